/* link.c: exit signals, links and monitors (runtime.h has the semantics).
 *
 * Signals travel through the receiver's mailbox as nodes whose term is
 * EM_NONE, so a signal and the messages of the same sender keep their
 * order.  The receiver handles them itself, in its own context, whenever it
 * drains its inbox (em__proc_drain): its link and monitor tables are only
 * ever touched by itself while it lives, so they need no lock.  After its
 * last switch, em__proc_finish calls em__link_exit, which tells every link
 * and monitor and answers signals still queued.
 *
 * Invariants:
 *  - p->links holds each linked pid once; a link exists iff both sides hold
 *    each other, except while a LINK/UNLINK/EXIT signal is in flight;
 *  - an EXIT (link) signal from a pid not in p->links is stale and ignored
 *    (this is what makes "no exit signal arrives after unlink" hold);
 *  - p->mons holds every monitor p created and that has not fired or been
 *    removed; a DOWN signal whose ref is not there is stale and dropped, so
 *    each monitor delivers at most one DOWN message;
 *  - p->mons also holds p's spawn requests to other nodes that are not
 *    answered yet (em__link_spawn_pending): their target is the node's
 *    atom, a target no monitor has (remote.c finds no destination in it,
 *    so removing one sends nothing); the reply turns it into a monitor of
 *    the new pid or removes it;
 *  - monitors between local processes are kept by the holder alone: for
 *    each monitor a local holder h has on a living local target, the
 *    target's monby holds one *record* of h (an entry without reference),
 *    and one more if the target is h->idle_rec: the record of a monitor h
 *    removed is kept for its next monitor of the same process, which then
 *    takes no lock (a server called again and again);
 *  - a dying target sends each record's holder a DOWN signal without a
 *    reference; the holder turns the first into a DOWN message for each of
 *    its monitors on that pid when it handles it (later ones find none);
 *  - monitors by remote holders are entries with their reference, one per
 *    monitor (the remote node needs one MONITOR_P_EXIT per reference);
 *  - sigs_pending counts signal nodes pushed and not yet handled.
 *
 * Whatever is not a local pid (a remote pid, {Name, Node}) goes through
 * remote.c, which also brings the signals of other nodes here
 * (em__link_signal, em__link_monby_add/del).
 */
#include <stdlib.h>
#include <string.h>

#include "remote.h"
#include "rt.h"

#define A(s) em_atom(s)

/* ---- small tables ---- */

static bool links_has(const em__proc *p, em_term pid)
{
    for (uint32_t i = 0; i < p->nlinks; i++)
        if (em_equal(p->links[i], pid))
            return true;
    return false;
}

static int links_add(em__proc *p, em_term pid)
{
    if (links_has(p, pid))
        return 0;
    if (p->nlinks == p->caplinks) {
        uint32_t cap = p->caplinks ? p->caplinks * 2 : 4;
        em_term *v = realloc(p->links, cap * sizeof *v);
        if (v == NULL)
            return EM_ENOMEM;
        p->links = v;
        p->caplinks = cap;
    }
    p->links[p->nlinks++] = em_dup(pid);
    return 0;
}

static bool links_del(em__proc *p, em_term pid)
{
    for (uint32_t i = 0; i < p->nlinks; i++) {
        if (em_equal(p->links[i], pid)) {
            em_drop(p->links[i]);
            p->links[i] = p->links[--p->nlinks];
            return true;
        }
    }
    return false;
}

static int mon_add(em__mon **v, uint32_t *n, uint32_t *cap, const em__refkey *ref, em_term pid, em_term name)
{
    if (*n == *cap) {
        uint32_t c = *cap ? *cap * 2 : 4;
        em__mon *nv = realloc(*v, c * sizeof *nv);
        if (nv == NULL)
            return EM_ENOMEM;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = (em__mon){*ref, em__is_local_pid(pid) ? pid : em_dup(pid), name};
    return 0;
}

/* Remove the entry with ref; copies it to *out (ownership moves) if found. */
static bool mon_take(em__mon *v, uint32_t *n, const em__refkey *ref, em__mon *out)
{
    /* From the end: a monitor removed soon after it was made (the common
     * case: a call's monitor) is the last one added. */
    for (uint32_t i = *n; i-- > 0;) {
        if (em__refkey_eq(&v[i].ref, ref)) {
            *out = v[i];
            v[i] = v[--*n];
            return true;
        }
    }
    return false;
}

static void mon_free(em__mon *m)
{
    if (!em__is_local_pid(m->pid)) /* the common case holds no box */
        em_drop(m->pid);
}

/* The key of a record: a reference has at least one word. */
static const em__refkey no_ref;

static bool is_record(const em__mon *m)
{
    return m->ref.n == 0;
}

/* ---- the monitored side: p->monby under p->monby_lock ----
 * Monitors of a process are added and removed by the monitoring side
 * directly (holding the target's gate, so the target cannot finish
 * meanwhile), not by signals: the target is never woken for them. */

static void monby_lock(em__proc *t)
{
    while (atomic_flag_test_and_set_explicit(&t->monby_lock, memory_order_acquire))
        ;
}

static void monby_unlock(em__proc *t)
{
    atomic_flag_clear_explicit(&t->monby_lock, memory_order_release);
}

/* Add to the live local process `target` the entry (ref, holder, name):
 * a remote holder's monitor, or with ref &no_ref a local holder's record.
 * Returns 0, EM_ENOPROC (gone), EM_ENOMEM.  The liveness check is made
 * under the lock: em__link_exit marks the process dead (its gate) before it
 * takes the table under the same lock, so an entry added here is either
 * seen by it (and gets its DOWN) or refused. */
static int monby_add(em_term target, const em__refkey *ref, em_term holder, em_term name)
{
    if (!em__is_local_pid(target))
        return EM_ENOPROC;
    em__proc *t = em__proc_lookup_slot(em__local_pid_id(target));
    if (t == NULL)
        return EM_ENOPROC;
    monby_lock(t);
    int rc = EM_ENOPROC;
    if (em__proc_alive_as(t, em__local_pid_serial(target)))
        rc = mon_add(&t->monby, &t->nmonby, &t->capmonby, ref, holder, name);
    monby_unlock(t);
    return rc;
}

/* Remove from `target` the entry with ref, or with ref &no_ref the record
 * of holder, if there (either may be gone: the target died). */
static void monby_del(em_term target, const em__refkey *ref, em_term holder)
{
    if (!em__is_local_pid(target))
        return;
    em__proc *t = em__proc_lookup_slot(em__local_pid_id(target));
    if (t == NULL)
        return;
    em__mon m;
    bool found = false;
    monby_lock(t);
    /* Refs are unique and a holder has one record at most, so an entry
     * found is ours whatever the generation of the process in the slot. */
    if (ref->n != 0) {
        found = mon_take(t->monby, &t->nmonby, ref, &m);
    } else {
        for (uint32_t i = t->nmonby; i-- > 0;) {
            if (is_record(&t->monby[i]) && t->monby[i].pid == holder) {
                m = t->monby[i];
                t->monby[i] = t->monby[--t->nmonby];
                found = true;
                break;
            }
        }
    }
    monby_unlock(t);
    if (found)
        mon_free(&m);
}

/* Before p adds a monitor on the local pid `target`: a record of p for it
 * in target's monby.  Returns 0, EM_ENOPROC (target gone), EM_ENOMEM. */
static int record_take(em__proc *p, em_term target)
{
    assert(em__is_local_pid(target));
    if (p->idle_rec != target)
        return monby_add(target, &no_ref, em__proc_pid(p), EM_NONE);
    p->idle_rec = EM_NONE;
    /* The idle record is there: only liveness to check, and no lock
     * needed.  If the target dies after this load, it sends its DOWN to
     * the record, and p, handling it in its own context, will see the
     * monitor about to be added.  Seen dead, it is noproc as for any dead
     * process (the DOWN the record brings then finds nothing to report). */
    em__proc *t = em__proc_lookup_slot(em__local_pid_id(target));
    return t && em__proc_alive_as(t, em__local_pid_serial(target)) ? 0 : EM_ENOPROC;
}

/* After p removed a monitor on the local pid `target`: its record becomes
 * p's idle one.  One is enough: the previous idle record goes. */
static void record_drop(em__proc *p, em_term target)
{
    if (p->idle_rec != EM_NONE)
        monby_del(p->idle_rec, &no_ref, em__proc_pid(p));
    p->idle_rec = target;
}

/* ---- sending signals ---- */

/* A signal; ref (borrowed) only for DOWN, else NULL. */
static em__sig *sig_new(int kind, em_term from, const em__refkey *ref, em_term reason, em_term name)
{
    em__sig *s = malloc(sizeof *s);
    if (s == NULL) {
        em_drop(from);
        em_drop(reason);
        return NULL;
    }
    s->kind = (uint8_t)kind;
    s->from = from;
    if (ref != NULL)
        s->ref = *ref;
    else
        memset(&s->ref, 0, sizeof s->ref);
    s->reason = reason;
    s->name = name;
    return s;
}

static void sig_free(em__sig *s)
{
    em_drop(s->from);
    em_drop(s->reason);
    free(s);
}

/* Deliver s to the local process `to`.  Returns 0, or EM_ENOPROC if it is
 * gone (s is freed either way). */
static int sig_send(em_term to, em__sig *s)
{
    if (s == NULL)
        return EM_ENOMEM;
    em__proc *p = em__proc_acquire(to);
    em__msg *n = p ? em__msg_new(EM_NONE) : NULL;
    if (n == NULL) {
        if (p)
            em__proc_release(p);
        sig_free(s);
        return p ? EM_ENOMEM : EM_ENOPROC;
    }
    n->term = (em_term)(uintptr_t)s | EM__SIG_TAG;
    /* Count before pushing: whoever sees the node also sees the count. */
    atomic_fetch_add_explicit(&p->sigs_pending, 1, memory_order_seq_cst);
    n->serial = p->serial;
    em__sched *self = em__cur_sched;
    if (self != NULL && atomic_load_explicit(&p->home_pub, memory_order_relaxed) == self)
        p->inbox_from_home = 1; /* this thread's next messages queue behind */
    em__mbox_push(&p->mbox, n);
    em__proc_wake(p, EM__EV_SIG);
    em__proc_release(p);
    return 0;
}

/* Append a message to p's private queue (p's own context). */
static void enqueue(em__proc *p, em_term msg)
{
    em__msg *n = msg != EM_NONE ? em__msg_new(msg) : NULL;
    if (n == NULL) {
        em_drop(msg); /* out of memory: the notification is lost */
        return;
    }
    n->serial = p->serial;
    em__mbox_append(&p->mbox, n);
}

static em_term down_msg(const em__refkey *ref, em_term who, em_term name, em_term reason)
{
    /* who is a pid, or {Name, Node} for a remote monitor by name. */
    em_term id = name != EM_NONE ? em_tuple(2, name, em_local_node(NULL)) : em_dup(who);
    return em_tuple(5, A("DOWN"), em__refkey_term(ref), A("process"), id, em_dup(reason));
}

static em_term spawn_reply_msg(const em__refkey *ref, em_term status, em_term what)
{
    return em_tuple(4, A("spawn_reply"), em__refkey_term(ref), status, em_dup(what));
}

/* ---- handling signals (the receiver's context) ---- */

_Noreturn static void die(em__sig *s, em_term reason)
{
    sig_free(s);
    em_exit(reason); /* in a process: does not return */
    abort();
}

static void exit_rules(em__proc *p, em__sig *s, bool exit2)
{
    em_term normal = em__atom(EM__A_NORMAL);
    if (exit2 && s->reason == A("kill"))
        die(s, A("killed"));
    if (p->trap_exit) {
        enqueue(p, em_tuple(3, A("EXIT"), em_dup(s->from), em_dup(s->reason)));
    } else if (s->reason == normal) {
        if (exit2 && em_equal(s->from, em__proc_pid(p)))
            die(s, normal);
    } else {
        die(s, em_dup(s->reason));
    }
    sig_free(s);
}

/* The connection to node s->name is gone (p's own context). */
static void node_down(em__proc *p, em__sig *s)
{
    em_term node = s->name, noconn = A("noconnection");
    monby_lock(p);
    for (uint32_t i = 0; i < p->nmonby;) {
        if (em__remote_node_of(p->monby[i].pid) == node) {
            mon_free(&p->monby[i]);
            p->monby[i] = p->monby[--p->nmonby];
        } else {
            i++;
        }
    }
    monby_unlock(p);
    for (uint32_t i = 0; i < p->nmons;) {
        em__mon *m = &p->mons[i];
        if (m->pid == node) {
            /* a spawn request to it, not answered: OTP's spawn_reply */
            enqueue(p, spawn_reply_msg(&m->ref, A("error"), noconn));
            p->mons[i] = p->mons[--p->nmons];
        } else if (em__remote_node_of(m->pid) == node) {
            enqueue(p, down_msg(&m->ref, m->pid, m->name, noconn));
            em__alias_monitor_gone(p, &m->ref);
            mon_free(m);
            p->mons[i] = p->mons[--p->nmons];
        } else {
            i++;
        }
    }
    for (uint32_t i = 0; i < p->nlinks;) {
        em_term l = p->links[i];
        if (em__remote_node_of(l) != node) {
            i++;
            continue;
        }
        p->links[i] = p->links[--p->nlinks];
        if (p->trap_exit) {
            enqueue(p, em_tuple(3, A("EXIT"), l, noconn));
        } else {
            em_drop(l);
            die(s, noconn);
        }
    }
    sig_free(s);
}

/* Remove p's monitor k, if it has it: 1, else 0. */
static int demonitor_key(em__proc *p, const em__refkey *k)
{
    em__mon m;
    if (!mon_take(p->mons, &p->nmons, k, &m))
        return 0;
    if (em__is_local_pid(m.pid))
        record_drop(p, m.pid);
    else
        em__remote_demonitor(em__proc_pid(p), m.pid, k);
    em__alias_monitor_gone(p, k);
    mon_free(&m);
    return 1;
}

/* The reply to a spawn request of p (em__link_spawn_pending). */
static void spawn_reply(em__proc *p, em__sig *s)
{
    int64_t flags = 0;
    em_int_get(s->reason, &flags);
    em_term result = s->from, self = em__proc_pid(p);
    bool pid = em_typeof(result) == EM_TYPE_PID;
    for (uint32_t i = p->nmons; i-- > 0;) {
        em__mon *m = &p->mons[i];
        if (!em__is_atom(m->pid) || !em__refkey_eq(&m->ref, &s->ref))
            continue;
        if (pid && (flags & EM__SPAWN_MONITOR))
            m->pid = em_dup(result); /* from now on the monitor of the new process */
        else
            p->mons[i] = p->mons[--p->nmons];
        if (pid && (flags & EM__SPAWN_LINK))
            links_add(p, result);
        enqueue(p, spawn_reply_msg(&s->ref, A(pid ? "ok" : "error"), result));
        return;
    }
    /* Abandoned (or never asked): undo what the reply set up there. */
    if (pid && (flags & EM__SPAWN_MONITOR))
        em__remote_demonitor(self, result, &s->ref);
    if (pid && (flags & EM__SPAWN_LINK))
        em__remote_unlink(self, result);
}

static void handle(em__proc *p, em__sig *s)
{
    em__mon m;
    int mode;
    switch (s->kind) {
    case EM__SIG_SPAWN_REPLY:
        spawn_reply(p, s);
        break;
    case EM__SIG_NODEDOWN:
        node_down(p, s);
        return;
    case EM__SIG_EXIT:
        if (!links_del(p, s->from)) {
            sig_free(s); /* stale: we unlinked */
            return;
        }
        exit_rules(p, s, false);
        return;
    case EM__SIG_EXIT2:
        exit_rules(p, s, true);
        return;
    case EM__SIG_LINK:
        links_add(p, s->from);
        break;
    case EM__SIG_UNLINK:
        links_del(p, s->from);
        break;

    case EM__SIG_DOWN:
        if (s->ref.n == 0) {
            /* From a record: every monitor p has on s->from, now. */
            for (uint32_t i = 0; i < p->nmons;) {
                if (p->mons[i].pid == s->from) {
                    m = p->mons[i];
                    p->mons[i] = p->mons[--p->nmons];
                    enqueue(p, down_msg(&m.ref, m.pid, m.name, s->reason));
                    em__alias_monitor_gone(p, &m.ref);
                    mon_free(&m);
                } else {
                    i++;
                }
            }
            if (p->idle_rec == s->from)
                p->idle_rec = EM_NONE;
        } else if (mon_take(p->mons, &p->nmons, &s->ref, &m)) {
            enqueue(p, down_msg(&m.ref, m.pid, m.name, s->reason));
            em__alias_monitor_gone(p, &m.ref);
            mon_free(&m);
        }
        break;
    case EM__SIG_ALIAS_MSG:
        /* Delivered only if the alias is still active (alias.c). */
        if (em__alias_take(p, &s->ref, true, &mode)) {
            enqueue(p, s->reason);
            s->reason = EM_NONE;
            if (mode == EM_ALIAS_REPLY_DEMONITOR)
                demonitor_key(p, &s->ref);
        }
        break;
    case EM__SIG_ALIAS_EXIT:
        if (em__alias_take(p, &s->ref, false, &mode)) {
            exit_rules(p, s, true);
            return;
        }
        break;
    default:
        break;
    }
    sig_free(s);
}

static em__sig *sig_of(const em__msg *n)
{
    return (em__sig *)(uintptr_t)(n->term & ~(em_term)EM__SIG_TAG);
}

void em__proc_drain(em__proc *p)
{
    em__msg *n;
    /* Whatever the home thread pushed is taken below (it is this thread):
     * its messages may go straight to the private queue again. */
    p->inbox_from_home = 0;
    while ((n = em__mbox_pop(&p->mbox)) != NULL) {
        if (em__msg_is_sig(n)) {
            em__sig *s = sig_of(n);
            em__msg_free(n);
            atomic_fetch_sub_explicit(&p->sigs_pending, 1, memory_order_acq_rel);
            handle(p, s); /* may not return */
        } else if (n->serial != p->serial) {
            /* Sent to an earlier process in this slot (send.c). */
            em_drop(n->term);
            em__msg_free(n);
        } else {
            em__mbox_append(&p->mbox, n);
        }
    }
}

/* ---- for remote.c: signals from other nodes ---- */

int em__link_signal(em_term to, int kind, em_term from, const em__refkey *ref, em_term reason, em_term name)
{
    return sig_send(to, sig_new(kind, from, ref, reason, name));
}

int em__link_add(em__proc *p, em_term pid)
{
    return links_add(p, pid);
}

int em__link_spawn_pending(em__proc *p, const em__refkey *reqid, em_term node)
{
    assert(em__is_atom(node));
    return mon_add(&p->mons, &p->nmons, &p->capmons, reqid, node, EM_NONE);
}

int em__link_monby_add(em_term target, const em__refkey *ref, em_term holder, em_term name)
{
    return monby_add(target, ref, holder, name);
}

void em__link_monby_del(em_term target, const em__refkey *ref, em_term holder)
{
    monby_del(target, ref, holder);
}

/* ---- after death ---- */

void em__link_exit(em__proc *p, em_term reason)
{
    em_term self = em__proc_pid(p);
    em_term noproc = A("noproc");
    /* Signals that arrived too late: answer links and monitors with
     * noproc, as an exiting Erlang process does. */
    em__msg *n;
    while ((n = em__mbox_pop(&p->mbox)) != NULL) {
        if (!em__msg_is_sig(n)) {
            em_drop(n->term);
            em__msg_free(n);
            continue;
        }
        em__sig *s = sig_of(n);
        em__msg_free(n);
        atomic_fetch_sub_explicit(&p->sigs_pending, 1, memory_order_acq_rel);
        if (s->kind == EM__SIG_LINK && !links_has(p, s->from))
            sig_send(s->from, sig_new(EM__SIG_EXIT, self, NULL, noproc, EM_NONE));
        sig_free(s);
    }
    for (uint32_t i = 0; i < p->nlinks; i++) {
        if (em__is_local_pid(p->links[i]))
            sig_send(p->links[i], sig_new(EM__SIG_EXIT, self, NULL, em_dup(reason), EM_NONE));
        else
            em__remote_exit(self, p->links[i], reason, false);
        em_drop(p->links[i]);
    }
    /* The gate says dead: nobody adds monitors any more (monby_add checks
     * under the lock); take the table under it. */
    monby_lock(p);
    em__mon *monby = p->monby;
    uint32_t nmonby = p->nmonby;
    p->monby = NULL;
    p->nmonby = p->capmonby = 0;
    monby_unlock(p);
    for (uint32_t i = 0; i < nmonby; i++) {
        em__mon *m = &monby[i];
        if (em__is_local_pid(m->pid))
            sig_send(m->pid, sig_new(EM__SIG_DOWN, self, &m->ref, em_dup(reason), EM_NONE));
        else /* OTP names the process as it was monitored: by name or pid */
            em__remote_down(m->name != EM_NONE ? m->name : self, m->pid, &m->ref, reason);
        mon_free(m);
    }
    if (p->idle_rec != EM_NONE)
        monby_del(p->idle_rec, &no_ref, self);
    p->idle_rec = EM_NONE;
    for (uint32_t i = 0; i < p->nmons; i++) {
        em__mon *m = &p->mons[i];
        if (em__is_local_pid(m->pid))
            monby_del(m->pid, &no_ref, self); /* the record of this monitor */
        else
            em__remote_demonitor(self, m->pid, &m->ref);
        mon_free(m);
    }
    free(p->links);
    free(p->mons);
    free(monby);
    p->links = NULL;
    p->mons = NULL;
    p->nlinks = p->caplinks = p->nmons = p->capmons = 0;
    p->trap_exit = false;
}

/* ---- spawn_link / spawn_monitor (child not started yet) ---- */

int em__link_spawned(em__proc *parent, em__proc *child)
{
    if (links_add(parent, em__proc_pid(child)) < 0)
        return EM_ENOMEM;
    if (links_add(child, em__proc_pid(parent)) < 0) {
        links_del(parent, em__proc_pid(child));
        return EM_ENOMEM;
    }
    return 0;
}

int em__monitor_spawned(em__proc *parent, em__proc *child, em_term *ref)
{
    em__refkey k;
    em__ref_new(&k);
    em_term r = em__refkey_term(&k);
    if (r == EM_NONE)
        return EM_ENOMEM;
    if (mon_add(&parent->mons, &parent->nmons, &parent->capmons, &k, em__proc_pid(child), EM_NONE) < 0 ||
        mon_add(&child->monby, &child->nmonby, &child->capmonby, &no_ref, em__proc_pid(parent), EM_NONE) < 0) {
        em__mon m;
        if (mon_take(parent->mons, &parent->nmons, &k, &m))
            mon_free(&m);
        em_drop(r);
        return EM_ENOMEM;
    }
    *ref = r;
    return 0;
}

void em__link_undo_spawn(em__proc *parent, em__proc *child)
{
    if (parent)
        links_del(parent, em__proc_pid(child));
    for (uint32_t i = 0; i < child->nlinks; i++)
        em_drop(child->links[i]);
    for (uint32_t i = 0; parent && i < parent->nmons;) {
        if (parent->mons[i].pid == em__proc_pid(child)) {
            mon_free(&parent->mons[i]);
            parent->mons[i] = parent->mons[--parent->nmons];
        } else {
            i++;
        }
    }
    for (uint32_t i = 0; i < child->nmonby; i++)
        mon_free(&child->monby[i]);
    free(child->links);
    free(child->monby);
    child->links = NULL;
    child->monby = NULL;
    child->nlinks = child->caplinks = child->nmonby = child->capmonby = 0;
}

/* ---- the public calls ---- */

EM_API int em_link(em_term pid)
{
    em__proc *p = em__self_proc();
    if (p == NULL)
        return EM_ESTATE;
    if (em_typeof(pid) != EM_TYPE_PID)
        return EM_EBADARG;
    if (pid == em__proc_pid(p) || links_has(p, pid))
        return 0;
    if (links_add(p, pid) < 0)
        return EM_ENOMEM;
    int rc;
    if (!em__is_local_pid(pid)) {
        rc = em__remote_link(em__proc_pid(p), pid);
        if (rc < 0) {
            /* Unreachable node: Erlang gives the linker noconnection; a
             * pid of an earlier incarnation of this node, noproc. */
            links_del(p, pid);
            if (rc == EM_ENOTSUP)
                return rc;
            if (!p->trap_exit)
                return EM_ENOPROC;
            enqueue(p, em_tuple(3, A("EXIT"), em_dup(pid), rc == EM_ENOPROC ? A("noproc") : A("noconnection")));
            rc = 0;
        }
        em__proc_signals(p);
        return rc;
    }
    rc = sig_send(pid, sig_new(EM__SIG_LINK, em__proc_pid(p), NULL, EM_NONE, EM_NONE));
    if (rc == EM_ENOPROC) {
        links_del(p, pid);
        if (!p->trap_exit)
            return EM_ENOPROC;
        em__proc_drain(p);
        enqueue(p, em_tuple(3, A("EXIT"), pid, A("noproc")));
        rc = 0;
    } else if (rc < 0) {
        links_del(p, pid); /* no half link: the other side was not told */
        return rc;
    }
    em__proc_signals(p);
    return rc;
}

EM_API int em_unlink(em_term pid)
{
    em__proc *p = em__self_proc();
    if (p == NULL)
        return EM_ESTATE;
    if (em_typeof(pid) != EM_TYPE_PID)
        return EM_EBADARG;
    if (links_del(p, pid)) {
        if (em__is_local_pid(pid))
            sig_send(pid, sig_new(EM__SIG_UNLINK, em__proc_pid(p), NULL, EM_NONE, EM_NONE));
        else
            em__remote_unlink(em__proc_pid(p), pid);
    }
    em__proc_signals(p);
    return 0;
}

EM_API bool em_trap_exit(bool on)
{
    em__proc *p = em__self_proc();
    if (p == NULL)
        return false;
    bool old = p->trap_exit;
    p->trap_exit = on;
    return old;
}

EM_API int em_exit_pid(em_term pid, em_term reason)
{
    if (em_typeof(pid) != EM_TYPE_PID || reason == EM_NONE)
        return EM_EBADARG;
    em__proc *p = em__self_proc();
    em_term from = p ? em__proc_pid(p) : em__atom(EM__A_UNDEFINED);
    if (!em__is_local_pid(pid))
        return em__remote_exit(from, pid, reason, true);
    int rc = sig_send(pid, sig_new(EM__SIG_EXIT2, from, NULL, em_dup(reason), EM_NONE));
    if (p && pid == from)
        em__proc_signals(p); /* exit(self(), R) acts at once */
    return rc == EM_ENOPROC ? 0 : rc;
}

/* em_monitor of a destination on another node, with reference k. */
static em_term monitor_remote(em__proc *p, em_term target, const em__dest *d, const em__refkey *k)
{
    em_term ref = em__refkey_term(k);
    if (ref == EM_NONE)
        return EM_NONE;
    if (mon_add(&p->mons, &p->nmons, &p->capmons, k, target, EM_NONE) < 0) {
        em_drop(ref);
        return EM_NONE;
    }
    int rc = em__remote_monitor(em__proc_pid(p), d, ref);
    if (rc < 0) {
        em__mon m;
        if (mon_take(p->mons, &p->nmons, k, &m))
            mon_free(&m);
        em_drop(ref);
        if (rc == EM_ENOTSUP) /* no node running */
            return EM_NONE;
        /* Unreachable node: DOWN noconnection at once (a pid of an
         * earlier incarnation of this node: noproc).  The drain is a
         * signal point: no term of ours is held across it (a death there
         * would lose it); the reference is made again after it. */
        em__proc_drain(p);
        if ((ref = em__refkey_term(k)) == EM_NONE)
            return EM_NONE;
        enqueue(p, down_msg(k, target, EM_NONE, rc == EM_ENOPROC ? A("noproc") : A("noconnection")));
        em__alias_monitor_gone(p, k);
    }
    return ref;
}

/* em_monitor of target by p with the reference k (a plain reference or
 * an alias of p): the reference term, or EM_NONE. */
static em_term monitor_with(em__proc *p, em_term target, const em__refkey *k)
{
    em_term name = EM_NONE, pid = target;
    if (!em__is_local_pid(target)) {
        em__dest d;
        switch (em__dest_classify(target, &d)) {
        case EM__DEST_LOCAL_NAME:
            name = d.name;
            pid = em_whereis(name);
            break;
        case EM__DEST_REMOTE_PID:
        case EM__DEST_REMOTE_NAME:
            return monitor_remote(p, target, &d, k);
        default:
            return EM_NONE;
        }
    }
    em_term ref = em__refkey_term(k);
    if (ref == EM_NONE)
        return EM_NONE;
    int rc = pid != EM_NONE ? record_take(p, pid) : EM_ENOPROC;
    if (rc == 0 && (rc = mon_add(&p->mons, &p->nmons, &p->capmons, k, pid, name)) < 0)
        record_drop(p, pid);
    if (rc < 0) {
        /* Gone already: DOWN noproc at once, after what it sent us.  The
         * drain is a signal point: the reference is made again after it,
         * so a death there loses no term. */
        em_drop(ref);
        em__proc_drain(p);
        if ((ref = em__refkey_term(k)) == EM_NONE)
            return EM_NONE;
        enqueue(p, down_msg(k, pid != EM_NONE ? pid : name, name, A("noproc")));
        em__alias_monitor_gone(p, k);
    }
    return ref;
}

EM_API em_term em_monitor(em_term target)
{
    em__proc *p = em__self_proc();
    if (p == NULL)
        return EM_NONE;
    em__refkey k;
    em__ref_new(&k);
    return monitor_with(p, target, &k);
}

EM_API em_term em_monitor_alias(em_term target, int mode)
{
    em__proc *p = em__self_proc();
    em__refkey k;
    if (p == NULL || !em__alias_mode_ok(mode, true) || em__alias_add(p, mode, &k) < 0)
        return EM_NONE;
    em_term ref = monitor_with(p, target, &k);
    if (ref == EM_NONE)
        em__alias_del(p, &k);
    return ref;
}

static bool is_down_for(em_term msg, em_term ref)
{
    return em_tuple_size(msg) == 5 && em_tuple_get(msg, 0) == A("DOWN") &&
           em_equal(em_tuple_get(msg, 1), ref);
}

EM_API int em_demonitor(em_term ref, int flags)
{
    em__proc *p = em__self_proc();
    if (p == NULL)
        return EM_ESTATE;
    em__refkey k;
    int active = em__refkey_of(ref, &k) ? demonitor_key(p, &k) : 0;
    if (flags & EM_DEMONITOR_FLUSH) {
        em__proc_drain(p);
        em__link *at = &p->mbox.first;
        em__msg *n;
        while ((n = atomic_load_explicit(at, memory_order_relaxed)) != NULL) {
            if (is_down_for(n->term, ref)) {
                em__mbox_unlink(&p->mbox, at);
                em_drop(n->term);
                em__msg_free(n);
                break;
            }
            at = &n->next;
        }
    }
    return active;
}
