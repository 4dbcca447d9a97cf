/* pg.h: process groups across a cluster, as OTP's pg module (kernel's
 * pg.erl, not the old pg2): C processes join and leave named groups of a
 * scope, and C code reads the members of a group on every node of the
 * cluster, ember or Erlang/OTP.
 * Public: installed as <ember/pg.h>; users include <ember.h>.
 *
 * A scope is a process registered under the scope's name (an atom) that
 * speaks pg.erl's protocol with the scope of the same name on every other
 * node (docs/pg.md): it tells them which local processes joined which
 * groups, and learns theirs.  A node started with em_node_start runs the
 * default scope `pg` (kernel's pg:start_link() on Erlang); other scopes
 * (Phoenix.PubSub's 'Elixir.Phoenix.PubSub', say) start with em_pg_start.
 * Membership is eventually consistent, as in pg: a join or leave made on
 * one node reaches the others as soon as messages travel.
 *
 * Groups are any terms; a group with no members does not exist (it is in
 * no list).  Only local processes join or leave, and a process may join a
 * group several times (it is then listed as many times, and leaves once per
 * join).  A member that exits leaves all its groups; a node that goes down,
 * or whose scope ends, takes its members out of every group.
 *
 * Which nodes a scope talks to: as pg.erl on a visible node, every
 * connected node that publishes itself (an Erlang node started without
 * -hidden; a published ember node), when the connection comes up and, for
 * the nodes already connected, when the scope starts.  A hidden ember node
 * does the same (Erlang nodes never ask a hidden node, but answer it), so
 * pg works on a hidden node too; nodes that do not publish themselves
 * (erl -hidden, erl_call, C nodes of ei) are never sent anything.
 *
 * Threads: the members are kept in a table of the scope that any thread
 * reads under a mutex (as pg.erl's readers read its ETS table without
 * calling the scope): em_pg_get_members and the other readers never wait
 * for the scope process.  Joins and leaves are calls to the scope process,
 * which alone writes the table; when em_pg_join returns, every reader on
 * this node sees the new member.
 *
 * Errors use the EM_E* codes of common.h.
 */
#ifndef EM_NET_PG_H
#define EM_NET_PG_H

#include <ember/common.h>
#include <ember/term.h>

/* em_pg_start: start the scope `scope` (an atom), as pg:start(Scope): a
 * process registered as scope, not linked to the caller, running until it
 * is killed (em_exit_pid(em_whereis(scope), reason)) or the runtime stops.
 * It works without a node too (local groups only) and, once a node is
 * running, talks to the nodes that connect.  Returns 0, EM_EEXIST (the name
 * is registered already: the scope runs, or another process has the name;
 * the default scope `pg` runs whenever a node does), EM_EBADARG (scope is
 * not an atom, or is 'undefined'), EM_ENOMEM.
 * Ownership: borrows scope.  Yields: no.  Allocates: yes.  Thread: any. */
EM_API int em_pg_start(em_term scope);

/* em_pg_join: pg:join(Scope, Group, PidOrPids): `pids` is a local pid or a
 * proper list of local pids; each joins `group` (any term but EM_NONE)
 * once more, and the scopes on other nodes are told.  A pid that is not
 * alive joins and leaves again at once (the scope monitors its members).
 * An empty list joins nothing (and tells nobody).  Returns 0 once the
 * member table holds them, or EM_ENOPROC (no scope of that name runs),
 * EM_EBADARG (scope not an atom, group EM_NONE, or pids not a local pid or
 * a proper list of them: pg's {nolocal, Bad}), EM_EINVAL (called from the
 * scope process itself), EM_ENOMEM, EM_ECANCELED (from a thread that is
 * not a process: the runtime shut down during the call).
 * Ownership: borrows group and pids.  Yields: yes (a call to the scope,
 * em_call).  Allocates: yes.  Thread: any (a thread that is not a process
 * blocks, as in em_call). */
EM_API int em_pg_join(em_term scope, em_term group, em_term pids);

/* em_pg_leave: pg:leave(Scope, Group, PidOrPids): each of `pids` (as for
 * em_pg_join) leaves group once, if it had joined it.  Returns 0 if at
 * least one of them had, EM_ENOTFOUND if none had (pg's not_joined), or
 * the errors of em_pg_join.
 * Ownership, Yields, Allocates, Thread: as em_pg_join. */
EM_API int em_pg_leave(em_term scope, em_term group, em_term pids);

/* em_pg_get_members: pg:get_members(Scope, Group): a new list of the pids
 * of group on every node the scope knows (a pid as many times as it
 * joined), owned by the caller; [] for a group without members, for a
 * scope that does not run, or for a non-atom scope.
 * em_pg_get_local_members: the same, this node's members only.
 * Ownership: borrows scope and group; the list is the caller's (em_drop).
 * Yields: no.  Allocates: no (the list is shared, reference counted).
 * Thread: any. */
EM_API em_term em_pg_get_members(em_term scope, em_term group);
EM_API em_term em_pg_get_local_members(em_term scope, em_term group);

/* em_pg_which_groups: pg:which_groups(Scope): a new list of the groups
 * that have members (on any node), in no particular order, owned by the
 * caller; [] for a scope that does not run; EM_NONE when out of memory.
 * Ownership: borrows scope.  Yields: no.  Allocates: yes.  Thread: any. */
EM_API em_term em_pg_which_groups(em_term scope);

#endif /* EM_NET_PG_H */
