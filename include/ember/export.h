/* export.h: C functions other nodes call, and calling functions of other
 * nodes from C -- Erlang's spawn/4, rpc and erpc across the wire.
 * Public: installed as <ember/export.h>; users include <ember.h>.
 *
 * EXPORTS.  em_export registers a C function under Module:Function/Arity.
 * Once a node runs (<ember/dist.h>), Erlang reaches it as it reaches any
 * exported function of a node:
 *  - spawn(Node, M, F, Args), spawn_link, spawn_monitor, spawn_opt and
 *    spawn_request start a new ember process running it (the pid returned
 *    is of this node);
 *  - rpc:call, erpc:call, erpc:multicall, rpc:multicall, rpc:cast and
 *    erpc:cast run it in a new process and give the caller what OTP gives:
 *    the value, or for a raise what the same raise in Erlang gives --
 *    {badrpc, {'EXIT', {Reason, Stack}}} for an error,
 *    {badrpc, {'EXIT', Reason}} for an exit, the thrown term for a throw,
 *    and {badrpc, {'EXIT', {undef, [{M, F, Args, []}]}}} for a function
 *    that is not exported (OTP's erpc runs erpc:execute_call on the target
 *    node; ember does what that function does);
 *  - rpc:block_call and erl_call -a go through the registered `rex` the
 *    node runs (rpc's server), with the same answers.
 * Every node exports erlang:node/0, erlang:nodes/0 (the visible nodes: []
 * on a hidden node, as OTP), erlang:registered/0 and erlang:whereis/1 (the
 * node registers them when it starts, unless the program exported them
 * first).
 *
 * An exported function runs in a process of its own, made for the call:
 * it may block, receive, send, call other nodes (em_rpc), link, and spawn.
 * It returns its value, or raises an Erlang exception with em_raise.  The
 * process ends when the function returns or raises; what it ends with is
 * what Erlang's process would end with (for a call: what erpc expects).
 *
 * CALLING OTHER NODES.  em_rpc(Node, M, F, Args, Timeout, &Result) is
 * erpc:call: a new process on Node runs M:F(Args), monitored, and the
 * caller waits for its outcome.
 */
#ifndef EM_RUNTIME_EXPORT_H
#define EM_RUNTIME_EXPORT_H

#include <stdint.h>

#include <ember/common.h>
#include <ember/term.h>

/* An exported function: args[0 .. nargs) are its arguments (borrowed: they
 * live until it returns), nargs its arity.  Returns its value, which the
 * caller of the function takes (a term the function owns: a constructor's
 * result, or em_dup of an argument).  EM_NONE (a constructor that ran out
 * of memory) raises error system_limit.  It may instead raise (em_raise). */
typedef em_term (*em_export_fn)(const em_term *args, unsigned nargs);

/* em_export: export fn as module:function/arity (UTF-8 names, as atoms;
 * arity 0..255).  Returns 0, or EM_EEXIST (that function is exported
 * already: em_unexport it first), EM_EINVAL (fn NULL, a name that is no
 * atom, arity over 255), EM_ENOMEM, EM_EATOMTAB (the atom table is full).
 * A call already running keeps running.
 * em_unexport: remove it: 0, or EM_ENOTFOUND.  Later calls of a function
 * that is not exported are undef, as in Erlang.
 * Yields: no. Allocates: yes. Thread: any. */
EM_API int em_export(const char *module, const char *function, unsigned arity, em_export_fn fn);
EM_API int em_unexport(const char *module, const char *function, unsigned arity);

/* em_raise: raise an exception of class cls (the atom error, exit or
 * throw; anything else raises error badarg) with `reason` (taken), as
 * erlang:error/1, exit/1 and throw/1 do.  Does not return: the calling
 * process ends, its C stack discarded without unwinding, as with em_exit
 * (release what you hold in em_on_exit hooks).  In a process running an
 * exported function, the caller gets what Erlang gives for that raise
 * (for erpc:call: an exception of the same class, the error's stack being
 * [{Module, Function, Arity, []}]); in any other process it ends the
 * process with the reason an uncaught raise gives in Erlang: {Reason,
 * Stack} for error, Reason for exit, {{nocatch, Reason}, Stack} for throw.
 * em_raise_stack: the same with the stack (taken) of an error given
 * (EM_NONE: the default); ignored for exit and throw.
 * Outside a process both do nothing but release their arguments.
 * Note: em_exit(R) in an exported function ends its process like an exit
 * signal would (erpc:call then exits {signal, R}; rpc:call returns
 * {badrpc, {'EXIT', R}} either way), not like exit/1. */
EM_API void em_raise(em_term cls, em_term reason);
EM_API void em_raise_stack(em_term cls, em_term reason, em_term stack);

/* em_group_leader: the group leader the process running an exported
 * function was given by the node that asked for it (the Erlang caller's
 * group leader: where its io goes), borrowed; EM_NONE in any other
 * process.  Yields: no.  Process only (EM_NONE outside). */
EM_API em_term em_group_leader(void);

/* em_io_format: what io:format does for an Erlang process: the text of
 * fmt (em_format's directives: ~p ~w ~s ~n ~~) is sent to the calling
 * process's group leader as an io request ({io_request, Self, Ref,
 * {put_chars, unicode, Binary}}) and the call waits for its io_reply, so
 * the output of an exported function called by rpc:call from erl appears
 * where the caller's io:format output would (its shell, its console).  A
 * process without a group leader (em_group_leader EM_NONE: not running an
 * export, or called through erl_call with group leader `user`) writes to
 * stdout.  Returns 0, EM_EIO (the group leader answered an error, or is
 * gone), EM_EINVAL (a bad directive), EM_ENOMEM.  Yields: yes (with a
 * group leader).  Thread: any (stdout outside a process). */
EM_API int em_io_format(const char *fmt, ...);

/* em_rpc: call module:function(args) on `node` (an atom; this node's own
 * name calls it here) and wait up to timeout_ms (EM_INFINITY: no limit)
 * for its outcome, as erpc:call(Node, M, F, Args, Timeout) does: a new
 * process on that node runs it, monitored by the caller, with the
 * caller's group leader (em_group_leader, or this node's io server `user`,
 * which prints on stdout what it is asked to write).  args: a proper list
 * (taken).  Returns
 *   0                  it returned: *result = the value;
 *   EM_RPC_EXCEPTION   it raised: *result = {Class, Reason, Stack}
 *                      (Class error, exit or throw; Stack [] but for
 *                      error), {undef, [{M, F, Args, []}]} as an error's
 *                      reason and stack for a function that does not
 *                      exist; also what erpc raises itself, {error, {erpc,
 *                      Why}, []}, for a spawn the node refused (badopt,
 *                      system_limit);
 *   EM_RPC_SIGNAL      its process ended otherwise (an exit signal: erpc
 *                      exits {signal, Reason}): *result = the reason;
 *   EM_ETIMEDOUT       no outcome within timeout_ms (rpc's {badrpc,
 *                      timeout}): the call is abandoned as erpc abandons
 *                      it (the process on the node is not stopped; no
 *                      late answer reaches the caller);
 *   EM_ECLOSED         the node could not be reached or went down
 *                      before the outcome (rpc's {badrpc, nodedown});
 *   EM_ENOTSUP         no node running here, or a node that cannot
 *                      spawn (OTP before 23; rpc's {badrpc, notsup});
 *   EM_EBADARG         node not an atom, args not a proper list, module
 *                      or function no atom (or result NULL);
 *   EM_ESTATE          not called from a process; EM_ENOMEM.
 * *result is EM_NONE unless it was set (owned by the caller).
 * Yields: yes. Allocates: yes. Process only. */
enum { EM_RPC_EXCEPTION = 1, EM_RPC_SIGNAL = 2 };
EM_API int em_rpc(em_term node, const char *module, const char *function, em_term args, int64_t timeout_ms,
                  em_term *result);

#endif /* EM_RUNTIME_EXPORT_H */
