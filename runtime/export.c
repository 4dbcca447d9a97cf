/* export.c: exported C functions (export.h has the contract): the table of
 * exports, and the process that runs one for a spawn request.
 *
 * The table maps {Module, Function, Arity} (atoms and a number) to a C
 * function, under one lock; a call copies the function pointer out and
 * runs it without the lock.
 *
 * A spawn request (from another node: remote.c, em__remote_spawn_request;
 * from this node: em__remote_spawn_local, for rex and em_rpc to this node)
 * spawns `runner` with a frame (xframe) that lives as long as the process
 * (freed by an exit hook).  The runner first does what OTP's emulator does
 * as it creates a process for a spawn request: the link and the monitor
 * the requester asked for, then the SPAWN_REPLY, which it sends itself so
 * that the reply precedes whatever else the process sends the requester
 * (its exit signal, its DOWN); a process killed before it first runs has
 * its frame's exit hook send the reply, the EXIT and the DOWN instead
 * (answer_unrun).  Then it runs the function the way Erlang's
 * process would: M:F(Args) directly, or, when the request is for
 * erpc:execute_call(Ref, M, F, Args) or erpc:execute_cast(M, F, Args) (what
 * OTP's erpc and rpc spawn on the target node), what those functions do:
 * the process ends with the reason erpc's caller decodes, {Ref, return,
 * Value}, {Ref, throw, T}, {Ref, exit, R} or {Ref, error, R, Stack}
 * (kernel's erpc.erl, execute_call/4).  em_raise finds the frame of the
 * calling process through its start function and argument (p->fn, p->arg),
 * so a raise deep inside the function ends the process the same way.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember/export.h>

#include "remote.h"
#include "rt.h"

#define A(s) em_atom(s)

/* ---- the table ---- */

typedef struct xent {
    struct xent *next;
    em_term m, f;
    unsigned arity;
    em_export_fn fn;
} xent;

#define NBUCKETS 256
static xent *buckets[NBUCKETS];
static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned bucket(em_term m, em_term f, unsigned arity)
{
    uint64_t h = (m * 0x9e3779b97f4a7c15u) ^ (f * 0xc2b2ae3d27d4eb4fu) ^ arity;
    return (unsigned)(h >> 32) % NBUCKETS;
}

/* The entry's link: *at is the entry for (m, f, arity), or NULL (tab_lock). */
static xent **find(em_term m, em_term f, unsigned arity)
{
    xent **at = &buckets[bucket(m, f, arity)];
    while (*at && !((*at)->m == m && (*at)->f == f && (*at)->arity == arity))
        at = &(*at)->next;
    return at;
}

/* The atoms of module and function: 0, EM_EINVAL (NULL, or no atom:
 * bad UTF-8, too long), or EM_ENOMEM and EM_EATOMTAB as em_atom_new. */
static int names(const char *module, const char *function, em_term *m, em_term *f)
{
    if (module == NULL || function == NULL)
        return EM_EINVAL;
    int rc = em_atom_new(module, strlen(module), m);
    if (rc == 0)
        rc = em_atom_new(function, strlen(function), f);
    if (rc == EM_ENOMEM || rc == EM_EATOMTAB)
        return rc;
    return rc < 0 ? EM_EINVAL : 0;
}

EM_API int em_export(const char *module, const char *function, unsigned arity, em_export_fn fn)
{
    em_term m, f;
    if (fn == NULL || arity > 255)
        return EM_EINVAL;
    int rc = names(module, function, &m, &f);
    if (rc < 0)
        return rc;
    xent *e = malloc(sizeof *e);
    if (e == NULL)
        return EM_ENOMEM;
    *e = (xent){NULL, m, f, arity, fn};
    pthread_mutex_lock(&tab_lock);
    xent **at = find(m, f, arity);
    rc = *at ? EM_EEXIST : 0;
    if (rc == 0)
        *at = e;
    pthread_mutex_unlock(&tab_lock);
    if (rc < 0)
        free(e);
    return rc;
}

EM_API int em_unexport(const char *module, const char *function, unsigned arity)
{
    em_term m, f;
    if (arity > 255 || names(module, function, &m, &f) < 0)
        return EM_ENOTFOUND;
    pthread_mutex_lock(&tab_lock);
    xent **at = find(m, f, arity), *e = *at;
    if (e)
        *at = e->next;
    pthread_mutex_unlock(&tab_lock);
    free(e);
    return e ? 0 : EM_ENOTFOUND;
}

static em_export_fn lookup(em_term m, em_term f, unsigned arity)
{
    pthread_mutex_lock(&tab_lock);
    xent *e = *find(m, f, arity);
    em_export_fn fn = e ? e->fn : NULL;
    pthread_mutex_unlock(&tab_lock);
    return fn;
}

/* ---- the process running a spawn request ---- */

/* How the process ends: as a process spawned to run M:F(Args), or as erpc's
 * execute_call / execute_cast would end it. */
enum { X_PLAIN, X_CALL, X_CAST };
/* What the function did. */
enum { R_RETURN, R_ERROR, R_EXIT, R_THROW };

typedef struct xframe {
    em_term m, f, args;     /* what was asked for (owned) */
    em_term gl;             /* group leader, or EM_NONE (owned) */
    em_term parent, reqid;  /* a remote requester (owned), or EM_NONE */
    unsigned flags;         /* EM__SPAWN_*: what the remote requester asked */
    int mode;               /* X_* */
    em_term res;            /* X_CALL: erpc's result reference (borrowed from args) */
    em_term cm, cf;         /* the function being run (atoms) */
    unsigned arity;
    bool running;           /* its C function has been called */
    bool answered;          /* a remote requester's SPAWN_REPLY is out */
} xframe;

/* A remote spawn request whose process dies before it first runs (an exit
 * signal to its new pid, from a peer that guessed it): the requester
 * still gets its SPAWN_REPLY, as from OTP, whose reply goes out as the
 * process is made, and then what the link and the monitor it asked for
 * tell of the death.  Otherwise it would wait for the reply for good.
 * Nothing at the runtime's shutdown (no process is exiting then). */
static void answer_unrun(xframe *x)
{
    em__proc *p = em__proc_exiting();
    if (p == NULL)
        return;
    em_term self = em__proc_pid(p);
    em_term reason = p->exit_reason != EM_NONE ? p->exit_reason : A("killed");
    if (em__remote_spawn_answer(x->parent, x->reqid, x->flags, self) < 0)
        return;
    em__refkey k;
    if (x->flags & EM__SPAWN_LINK)
        em__remote_exit(self, x->parent, reason, false);
    if ((x->flags & EM__SPAWN_MONITOR) && em__refkey_of(x->reqid, &k))
        em__remote_down(self, x->parent, &k, reason);
}

static void frame_free(void *arg)
{
    xframe *x = arg;
    if (x->parent != EM_NONE && !x->answered)
        answer_unrun(x);
    em_drop(x->args);
    em_drop(x->gl);
    em_drop(x->parent);
    em_drop(x->reqid);
    free(x);
}

static void runner(void *arg);

/* The frame of the calling process if it runs a spawn request. */
static xframe *self_frame(void)
{
    em__proc *p = em__self_proc();
    return p && p->fn == runner ? p->arg : NULL;
}

/* End the calling process with what `cls` (R_*) with reason (and stack,
 * for an error) gives in mode x->mode (x NULL: a plain process).  Takes
 * reason and stack. */
_Noreturn static void finish(const xframe *x, int cls, em_term reason, em_term stack)
{
    int mode = x ? x->mode : X_PLAIN;
    em_term r = EM_NONE;
    static const char *const names_of[] = {"return", "error", "exit", "throw"};
    if (mode == X_CALL) {
        if (cls == R_ERROR) {
            r = em_tuple(4, em_dup(x->res), A("error"), reason, stack);
            stack = EM_NONE;
        } else {
            r = em_tuple(3, em_dup(x->res), A(names_of[cls]), reason);
        }
    } else if (cls == R_RETURN) {
        em_drop(reason);
        r = A("normal");
    } else if (cls == R_EXIT) {
        r = reason;
    } else {
        if (mode == X_CAST) {
            /* erpc:execute_cast raises error {exception, {R, Stack}} for
             * an error; either way the process crashes in it. */
            if (cls == R_ERROR)
                reason = em_tuple(2, A("exception"), em_tuple(2, reason, stack));
            else
                em_drop(stack);
            stack = em_list(1, em_tuple(4, A("erpc"), A("execute_cast"), em_int(3), EM_NIL));
        }
        if (cls == R_THROW)
            reason = em_tuple(2, A("nocatch"), reason);
        r = em_tuple(2, reason, stack);
        stack = EM_NONE;
    }
    em_drop(stack);
    em_exit(r != EM_NONE ? r : A("system_limit"));
    abort(); /* em_exit returns only outside a process */
}

/* The stack of an error raised in the function running: its frame, as
 * erpc's trim_stack leaves it ([{M, F, Arity, Location}]). */
static em_term default_stack(const xframe *x)
{
    if (x == NULL || !x->running)
        return EM_NIL;
    return em_list(1, em_tuple(4, x->cm, x->cf, em_int(x->arity), EM_NIL));
}

EM_API void em_raise_stack(em_term cls, em_term reason, em_term stack)
{
    if (em__self_proc() == NULL) {
        em_drop(reason);
        em_drop(stack);
        return;
    }
    int c = cls == A("error") ? R_ERROR : cls == A("exit") ? R_EXIT : cls == A("throw") ? R_THROW : -1;
    const xframe *x = self_frame();
    if (c < 0) {
        em_drop(reason);
        em_drop(stack);
        reason = A("badarg");
        stack = EM_NONE;
        c = R_ERROR;
    }
    if (c != R_ERROR) {
        /* An uncaught throw's stack is where it was thrown. */
        em_drop(stack);
        stack = c == R_THROW ? default_stack(x) : EM_NIL;
    } else if (stack == EM_NONE) {
        stack = default_stack(x);
    }
    finish(x, c, reason, stack);
}

EM_API void em_raise(em_term cls, em_term reason)
{
    em_raise_stack(cls, reason, EM_NONE);
}

EM_API em_term em_group_leader(void)
{
    const xframe *x = self_frame();
    return x ? x->gl : EM_NONE;
}

/* The io reply {io_reply, Mref, Reply} or the DOWN of Mref, the group
 * leader's monitor (io.erl's execute_request uses the monitor's reference
 * as the request's too). */
static bool is_io_reply(em_term m, void *mref)
{
    em_term ref = *(const em_term *)mref;
    long n = em_tuple_size(m);
    return (n == 3 && em_tuple_get(m, 0) == A("io_reply") && em_equal(em_tuple_get(m, 1), ref)) ||
           (n == 5 && em_tuple_get(m, 0) == A("DOWN") && em_equal(em_tuple_get(m, 1), ref));
}

EM_API int em_io_format(const char *fmt, ...)
{
    em_term gl = em_group_leader();
    em__proc *p = em__self_proc();
    /* io:format's io request, and its wait: the reply, or the group
     * leader's end (its monitor).  The mark and the monitor first, as they
     * may be signal points and nothing is held yet; the monitor's
     * reference is then the mark's: the wait scans only what comes after
     * it, and a kill while it waits loses nothing. */
    em_term mref = EM_NONE;
    if (gl != EM_NONE && p != NULL) {
        em__mark_set(p);
        mref = em_monitor(gl);
        if (mref == EM_NONE)
            return EM_ENOMEM;
        p->mark_ref = mref;
    }
    em_buf b = EM_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    int rc = em_vformat(&b, fmt, ap);
    va_end(ap);
    if (mref == EM_NONE) {
        if (rc == 0 && b.len && (fwrite(b.data, 1, b.len, stdout) != b.len || fflush(stdout) != 0))
            rc = EM_EIO;
        em_buf_free(&b);
        return rc;
    }
    em_term msg = EM_NONE;
    if (rc == 0) {
        em_term bin = em_binary(b.data, b.len);
        em_term req = em_tuple(3, A("put_chars"), A("unicode"), bin);
        msg = em_tuple(4, A("io_request"), em_self(), em_dup(mref), req);
        rc = msg == EM_NONE ? EM_ENOMEM : 0;
    }
    em_buf_free(&b);
    if (rc < 0) {
        em_demonitor(mref, EM_DEMONITOR_FLUSH);
        return rc;
    }
    em_send(gl, msg);
    em_term m = EM_NONE;
    if (em__receive_marked(EM_INFINITY, mref, is_io_reply, &mref, &m) < 0 || em_tuple_size(m) != 3 ||
        em_tuple_get(m, 2) != A("ok"))
        rc = EM_EIO;
    if (em_tuple_size(m) != 5)
        em_demonitor(mref, EM_DEMONITOR_FLUSH); /* a DOWN took the monitor */
    return rc;
}

/* The n-th element of a list (borrowed), EM_NONE past its end. */
static em_term nth(em_term l, unsigned n)
{
    for (; n > 0 && l != EM_NONE; n--)
        l = em_tl(l);
    return em_hd(l);
}

/* More arguments than OTP 25's apply takes (1024 and over; 256 to 1023
 * are undef, as no function has that many): system_limit, which erpc's
 * is_arg_error turns into {erpc, system_limit} for a call and a cast.
 * The plain spawn's stack is the one OTP's dist_spawn_init gives. */
_Noreturn static void too_many_args(const xframe *x, em_term m, em_term f, em_term a)
{
    em_term limit = em_tuple(2, A("erpc"), A("system_limit")), r;
    if (x->mode == X_CALL) {
        r = em_tuple(3, em_dup(x->res), A("error"), limit);
    } else if (x->mode == X_CAST) {
        r = em_tuple(2, limit, em_list(1, em_tuple(4, A("erpc"), A("execute_cast"), em_int(3), EM_NIL)));
    } else {
        em_drop(limit);
        em_term apply = em_tuple(4, A("erlang"), A("apply"), em_list(3, m, f, em_dup(a)), EM_NIL);
        em_term init = em_tuple(4, A("erts_internal"), A("dist_spawn_init"), em_int(1), EM_NIL);
        r = em_tuple(2, A("system_limit"), em_list(2, apply, init));
    }
    em_exit(r != EM_NONE ? r : A("system_limit"));
    abort(); /* em_exit returns only outside a process */
}

/* Run what x asks for, and end the process as Erlang's would end. */
_Noreturn static void run(xframe *x)
{
    em_term m = x->m, f = x->f, a = x->args;
    em_term erpc = A("erpc");
    if (m == erpc && f == A("execute_call") && em_list_length(a) == 4) {
        x->mode = X_CALL;
        x->res = nth(a, 0);
        m = nth(a, 1);
        f = nth(a, 2);
        a = nth(a, 3);
    } else if (m == erpc && f == A("execute_cast") && em_list_length(a) == 3) {
        x->mode = X_CAST;
        m = nth(a, 0);
        f = nth(a, 1);
        a = nth(a, 2);
    }
    long n = em_list_length(a);
    if (em_typeof(m) != EM_TYPE_ATOM || em_typeof(f) != EM_TYPE_ATOM || n < 0)
        finish(x, R_ERROR, A("badarg"),
               em_list(1, em_tuple(4, A("erlang"), A("apply"), em_list(3, em_dup(m), em_dup(f), em_dup(a)), EM_NIL)));
    if (n >= 1024)
        too_many_args(x, m, f, a);
    /* No function takes more than 255 arguments: undef, as OTP 25's apply
     * answers (not badarg). */
    em_export_fn fn = n <= 255 ? lookup(m, f, (unsigned)n) : NULL;
    if (fn == NULL)
        finish(x, R_ERROR, A("undef"), em_list(1, em_tuple(4, m, f, em_dup(a), EM_NIL)));
    x->cm = m;
    x->cf = f;
    x->arity = (unsigned)n;
    x->running = true;
    em_term argv[255];
    for (long i = 0; i < n; i++, a = em_tl(a))
        argv[i] = em_hd(a);
    em_term v = fn(argv, (unsigned)n);
    if (v == EM_NONE)
        finish(x, R_ERROR, A("system_limit"), default_stack(x));
    finish(x, R_RETURN, v, EM_NONE);
}

static void runner(void *arg)
{
    xframe *x = arg; /* freed by the spawn-time exit hook (frame_free) */
    if (x->parent != EM_NONE) {
        /* A remote spawn request: what the emulator sets up as it creates
         * the process, then the reply (before anything else goes to the
         * requester). */
        em__proc *p = em__self_proc();
        em_term self = em_self();
        em__refkey k;
        bool mon = (x->flags & EM__SPAWN_MONITOR) && em__refkey_of(x->reqid, &k);
        bool failed = mon && em__link_monby_add(self, &k, x->parent, EM_NONE) < 0;
        if (!failed && (x->flags & EM__SPAWN_LINK) && em__link_add(p, x->parent) < 0) {
            if (mon)
                em__link_monby_del(self, &k, x->parent);
            failed = true;
        }
        x->answered = true; /* before the send: a signal point */
        if (failed) {
            /* OTP's answer to a spawn it cannot carry out (dist_ctl.c
             * sends the same when the spawn itself fails): nothing set up,
             * so nothing else reaches the requester. */
            em__remote_spawn_answer(x->parent, x->reqid, 0, A("system_limit"));
            em_exit(A("system_limit"));
        }
        if (em__remote_spawn_answer(x->parent, x->reqid, x->flags, self) < 0) {
            /* The connection is gone: a link to the requester breaks
             * (noconnection, as OTP's link to a lost connection); a
             * monitor has nobody to tell. */
            if (x->flags & EM__SPAWN_LINK)
                em_exit(A("noconnection"));
            if (mon)
                em__link_monby_del(self, &k, x->parent);
        }
    }
    run(x);
}

em_term em__export_spawn(em_term m, em_term f, em_term args, em_term gl, em_term parent, em_term reqid,
                         unsigned flags, em_term *mref)
{
    xframe *x = calloc(1, sizeof *x);
    if (x == NULL) {
        em_drop(args);
        return EM_NONE;
    }
    x->m = m;
    x->f = f;
    x->args = args;
    x->gl = em_dup(gl);
    x->parent = em_dup(parent);
    x->reqid = em_dup(reqid);
    x->flags = flags;
    x->mode = X_PLAIN;
    /* The frame is the process's: its exit hook, given at the spawn, frees
     * it however the process ends, even killed before it ever ran. */
    em_spawn_opts o = {.monitor = mref, .on_exit = frame_free};
    em_term pid = em_spawn_opt(runner, x, &o);
    if (pid == EM_NONE)
        frame_free(x); /* the hook is not called then */
    return pid;
}
