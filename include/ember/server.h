/* server.h: a server process in the manner of Erlang's gen_server: C
 * callbacks over a state pointer, serving calls (em_call from C,
 * gen_server:call from Erlang: '$gen_call'), casts (em_cast,
 * gen_server:cast: '$gen_cast') and other messages, on this node or from
 * others.  Public: installed as <ember/server.h>; users include <ember.h>.
 *
 * A server:
 *
 *     static int counter_init(void *arg, void **state, em_term *reason)
 *     {
 *         *state = calloc(1, sizeof(long));
 *         return EM_SERVER_OK;
 *     }
 *     static int counter_call(void *state, em_term req, em_term from,
 *                             em_term *reply, em_term *reason)
 *     {
 *         long *n = state;
 *         if (req == em_atom("next")) {
 *             *reply = em_int(++*n);
 *             return EM_SERVER_REPLY;
 *         }
 *         *reply = em_atom("badreq");
 *         return EM_SERVER_REPLY;
 *     }
 *     static void counter_terminate(void *state, em_term reason) { free(state); }
 *     static const em_server_ops counter = {
 *         .init = counter_init, .handle_call = counter_call,
 *         .terminate = counter_terminate,
 *     };
 *     ...
 *     em_term pid;
 *     em_server_start(&counter, NULL, em_atom("counter"), &pid);
 *     em_call(em_atom("counter"), em_atom("next"), 1000, &reply);  // 1
 *
 * and from Erlang: gen_server:call({counter, 'c@host'}, next).
 *
 * The loop: each message is, in order of arrival,
 *  - {'$gen_call', {Pid, Tag}, Request}: handle_call, whose `from` is the
 *    {Pid, Tag} to pass to em_reply (now, later, or from another process:
 *    keep it with em_dup);
 *  - {'$gen_cast', Request}: handle_cast;
 *  - {system, From, Request} (the sys module's messages): get_state
 *    (sys:get_state: the get_state callback's term), suspend and resume (sys:suspend/resume:
 *    while suspended only system messages are taken), {terminate, Reason}
 *    (sys:terminate: terminate, then exit with Reason); any other is
 *    answered {error, {unknown_system_msg, Request}};
 *  - {'EXIT', Parent, Reason}, when the server traps exits (init may call
 *    em_trap_exit(true)) and Parent is the process that started it with a
 *    link: terminate(Reason), then exit with Reason, as gen_server does;
 *  - anything else: handle_info.
 * A callback's terms (request, from, msg) are borrowed for the duration of
 * the call (they stay valid even if it receives meanwhile, e.g. in an
 * em_call of its own).  A callback that returns EM_SERVER_STOP ends the
 * server: terminate(state, reason) runs (if not NULL), then the process
 * exits with the reason.  A callback that calls em_exit, or a server
 * killed by an exit signal it does not trap, ends without terminate (as a
 * gen_server's crash or kill: free what the state holds in an em_on_exit
 * hook if that matters).  A server runs on its process's stack like any
 * process (runtime.h: do not hand out pointers into it).
 */
#ifndef EM_RUNTIME_SERVER_H
#define EM_RUNTIME_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <ember/common.h>
#include <ember/term.h>
#include <ember/runtime.h>

/* What a callback returns. */
enum {
    /* init: the server runs.  handle_call: no reply now (gen_server's
     * noreply: reply later with em_reply(from, ...)).  handle_cast,
     * handle_info: the server goes on. */
    EM_SERVER_OK = 0,
    EM_SERVER_NOREPLY = EM_SERVER_OK,
    /* handle_call: reply *reply (set by the callback, taken) and go on. */
    EM_SERVER_REPLY = 1,
    /* any callback: stop with *reason (set by the callback, taken; left
     * EM_NONE: normal).  From handle_call, *reply (if set) is sent after
     * terminate, as gen_server's {stop, Reason, Reply, State}.  From init,
     * the server does not start: em_server_start returns EM_EEXIT with the
     * reason, and the process exits with it (a start_link caller that does
     * not trap exits then exits too, unless the reason is normal, as with
     * OTP 25's gen_server). */
    EM_SERVER_STOP = 2,
    /* init: do not start, and return 1 from em_server_start (gen_server's
     * ignore); the process exits normal. */
    EM_SERVER_IGNORE = 3
};

/* The callbacks.  handle_call is required; the others may be NULL (a
 * NULL handle_cast or handle_info ignores the message, a NULL init starts
 * with state = arg).  `state` is what init stored in *state; the server
 * never looks inside it.  *reply and *reason are EM_NONE on entry. */
typedef struct em_server_ops {
    int (*init)(void *arg, void **state, em_term *reason);
    int (*handle_call)(void *state, em_term request, em_term from, em_term *reply, em_term *reason);
    int (*handle_cast)(void *state, em_term request, em_term *reason);
    int (*handle_info)(void *state, em_term msg, em_term *reason);
    /* Called once when the server stops by a callback's EM_SERVER_STOP,
     * its parent's exit signal (trapped) or sys:terminate; reason
     * borrowed.  Not called for an init that stopped or ignored. */
    void (*terminate)(void *state, em_term reason);
    /* sys:get_state: store a term for the state in *term (taken by the
     * server; left EM_NONE, or without this callback, sys:get_state gets
     * {error, no_get_state}). */
    void (*get_state)(void *state, em_term *term);
} em_server_ops;

typedef struct em_server_opts {
    em_term name;      /* an atom to register the server as, or EM_NONE */
    bool link;         /* link the caller and the server (start_link) */
    size_t stack_size; /* the process's stack limit; 0: EM_STACK_DEFAULT */
} em_server_opts;

/* em_server_start_opt: start a server and wait until its init returned,
 * as gen_server:start/start_link.  `ops` must stay valid for as long as
 * the server lives (a static), `arg` is passed to init.  The name, if any,
 * is registered before init runs (and is free again when a start whose
 * init stopped or ignored returns).  Returns, with *result (may be NULL):
 *  - 0: running; *result is its pid;
 *  - 1: init returned EM_SERVER_IGNORE; *result EM_NONE;
 *  - EM_EEXIST: the name is taken ({already_started, Pid}); *result is the
 *    pid that has it;
 *  - EM_EEXIT: init stopped, or the process ended before init returned;
 *    *result is the reason (the caller owns it);
 *  - EM_EINVAL: ops or ops->handle_call is NULL, or name is not an atom
 *    (or is 'undefined'); EM_ENOMEM: the process could not be spawned,
 *    or had no memory for its state (*result EM_NONE);
 *    EM_ECANCELED (from a thread that is not a process: the runtime shut
 *    down meanwhile).
 * Thread: any (a thread that is not a process blocks, and a link is not
 * made: there is no process to link to).  Yields: yes. */
EM_API int em_server_start_opt(const em_server_ops *ops, void *arg, const em_server_opts *opts,
                               em_term *result);
/* em_server_start / em_server_start_link: the same, registered as name
 * unless it is EM_NONE, linked for the second. */
EM_API int em_server_start(const em_server_ops *ops, void *arg, em_term name, em_term *result);
EM_API int em_server_start_link(const em_server_ops *ops, void *arg, em_term name, em_term *result);

/* em_cast: send {'$gen_cast', Request} to `server` (borrowed: a pid, a
 * name, {Name, Node}, {global, Name}: see em_call), as gen_server:cast;
 * request taken.  No answer, and no error when nobody is there (a name
 * registered by nobody, locally or with global: dropped).
 * Returns 0, or what em_send returns otherwise (EM_EBADARG: not a
 * destination; EM_ENOTSUP: a remote one and no node running).
 * Thread: any. */
EM_API int em_cast(em_term server, em_term request);

#endif /* EM_RUNTIME_SERVER_H */
