# tests/interop/elixir_client.exs: Elixir as a client of examples/kv.c,
# written as an Elixir user would (tests/interop/elixir.sh runs it).
# Prints "ok: ..." or "FAIL: ..." per check, then "checks done".
[kv_s, pg_s] = System.argv()
kv = String.to_atom(kv_s)
pgn = String.to_atom(pg_s)

check = fn label, got, want ->
  if got == want do
    IO.puts("ok: #{label}")
  else
    IO.puts("FAIL: #{label}: got #{inspect(got)}, want #{inspect(want)}")
  end
end

check.("Node.connect", Node.connect(kv), true)
check.("GenServer.call put", GenServer.call({:kv, kv}, {:put, :a, 1}), :ok)
check.("GenServer.call get", GenServer.call({:kv, kv}, {:get, :a}), {:ok, 1})
check.("GenServer.call get of a missing key", GenServer.call({:kv, kv}, {:get, :nokey}), :error)
check.("GenServer.cast delete", GenServer.cast({:kv, kv}, {:delete, :a}), :ok)
check.("the cast took effect", GenServer.call({:kv, kv}, {:get, :a}), :error)
check.("a binary and a map as values",
       (GenServer.call({:kv, kv}, {:put, "k", %{x: [1, 2.5, "s"]}}); GenServer.call({:kv, kv}, {:get, "k"})),
       {:ok, %{x: [1, 2.5, "s"]}})
check.(":rpc.call kv:put", :rpc.call(kv, :kv, :put, [:b, "two"]), :ok)
check.(":rpc.call kv:get", :rpc.call(kv, :kv, :get, [:b]), {:ok, "two"})
check.(":rpc.call kv:fetch of a missing key",
       match?({:badrpc, {:EXIT, {{:badkey, :zz}, _}}}, :rpc.call(kv, :kv, :fetch, [:zz])), true)
check.(":erpc.call kv:keys", :erpc.call(kv, :kv, :keys, []), ["k", :b] |> Enum.sort())
check.(":rpc.call erlang:node", :rpc.call(kv, :erlang, :node, []), kv)
check.("GenServer.call of a name nobody has exits with noproc",
       (try do
          GenServer.call({:nobody, kv}, :hi, 2000)
        catch
          :exit, {reason, _} -> reason
        end), :noproc)
results =
  1..100
  |> Task.async_stream(fn i -> GenServer.call({:kv, kv}, {:put, {:t, i}, i}) end, max_concurrency: 20)
  |> Enum.map(fn {:ok, r} -> r end)
check.("100 calls from 20 tasks", Enum.uniq(results), [:ok])
check.("Node.list() shows the ember node", Enum.member?(Node.list(), kv), true)
check.(":global.sync()", :global.sync(), :ok)
check.(":global.whereis_name(:kv) is kv's server",
       :global.whereis_name(:kv), :rpc.call(kv, :erlang, :whereis, [:kv]))
check.("GenServer.call({:global, :kv}, ...)",
       (try do
          GenServer.call({:global, :kv}, {:get, :b}, 5000)
        catch
          :exit, {reason, _} -> {:exit, reason}
        end), {:ok, "two"})

# :pg, with the ember node tests/interop/pg_node.c (its `ctl` answers
# {From, Ref, Request} with {Ref, Reply}).
ctl = fn req ->
  ref = make_ref()
  send({:ctl, pgn}, {self(), ref, req})
  receive do
    {^ref, reply} -> reply
  after
    5000 -> :no_answer
  end
end
wait_for = fn f ->
  Enum.reduce_while(1..100, false, fn _, _ ->
    if f.(), do: {:halt, true}, else: (Process.sleep(50); {:cont, false})
  end)
end
{:ok, _scope} = :pg.start_link()
check.("Node.connect to the pg node", Node.connect(pgn), true)
{:ok, cmember} = ctl.({:spawn_join, :pg, :from_c})
check.("a C member seen by :pg.get_members",
       wait_for.(fn -> :pg.get_members(:from_c) == [cmember] end), true)
check.("the C member is on the ember node", node(cmember), pgn)
send(cmember, {:hello, "from Elixir"})
check.("a message to the C member arrives",
       (receive do
          {:member_got, ^cmember, {:hello, "from Elixir"}} -> :ok
        after
          5000 -> :none
        end), :ok)
:ok = :pg.join(:from_elixir, self())
check.("an Elixir member seen by em_pg_get_members",
       wait_for.(fn -> ctl.({:members, :pg, :from_elixir}) == [self()] end), true)
:ok = :pg.leave(:from_elixir, self())
check.("the Elixir member's leave seen from C",
       wait_for.(fn -> ctl.({:members, :pg, :from_elixir}) == [] end), true)
check.("the C member stops", ctl.({:stop_member, cmember}), :ok)
check.("a stopped C member is gone from :pg",
       wait_for.(fn -> :pg.get_members(:from_c) == [] end), true)
IO.puts("checks done")
