/* alias.c: process aliases (runtime.h has the contract: Erlang's alias/0,1,
 * unalias/1 and the alias option of monitor/3).
 *
 * The representation (rt.h): an alias is a local reference of five words,
 * w[0..2] a unique value from em__ref_new, w[3] and w[4] the id and serial
 * of its process's pid.  A sender reads the process out of the reference
 * and sends it a signal (EM__SIG_ALIAS_MSG, through link.c, so the message
 * keeps its place among the sender's other messages and signals); the
 * process looks the alias up in its own table when it handles the signal,
 * and delivers the message or drops it.
 *
 * Invariants:
 *  - p->aliases holds each active alias of p once, by its w[0..2]; only p
 *    itself reads or changes it while it lives (no lock), and it is freed
 *    when p exits (em__alias_exit), so the next process of the slot starts
 *    with none;
 *  - a reference of this node with five words whose w[3], w[4] are a live
 *    process's id and serial is that process's alias iff its w[0..2] are in
 *    the process's table; w[0..2] are unique among all references this
 *    program makes (em__ref_new), so no other reference can match;
 *  - every other reference ember makes has three words (em__ref_new).
 */
#include <stdlib.h>

#include "rt.h"

#define ALIAS_WORDS 5

bool em__alias_mode_ok(int mode, bool monitor)
{
    if (mode == EM_ALIAS_EXPLICIT)
        return true;
    return monitor ? mode == EM_ALIAS_DEMONITOR || mode == EM_ALIAS_REPLY_DEMONITOR : mode == EM_ALIAS_REPLY;
}

/* The index of alias k in p's table, or -1.  From the end: the alias of a
 * call is the last one made, and the one looked up. */
static long find(const em__proc *p, const em__refkey *k)
{
    for (uint32_t i = p->naliases; i-- > 0;) {
        const em__alias *a = &p->aliases[i];
        if (a->w[0] == k->w[0] && a->w[1] == k->w[1] && a->w[2] == k->w[2])
            return (long)i;
    }
    return -1;
}

static void remove_at(em__proc *p, long i)
{
    p->aliases[i] = p->aliases[--p->naliases];
}

int em__alias_add(em__proc *p, int mode, em__refkey *k)
{
    if (p->naliases == p->capaliases) {
        uint32_t cap = p->capaliases ? p->capaliases * 2 : 4;
        em__alias *v = realloc(p->aliases, cap * sizeof *v);
        if (v == NULL)
            return EM_ENOMEM;
        p->aliases = v;
        p->capaliases = cap;
    }
    em__ref_new(k);
    k->n = ALIAS_WORDS;
    k->w[3] = p->index;
    k->w[4] = p->serial;
    p->aliases[p->naliases++] = (em__alias){{k->w[0], k->w[1], k->w[2]}, (uint8_t)mode};
    return 0;
}

bool em__alias_key(const em__refkey *k, em_term *pid)
{
    if (k->n != ALIAS_WORDS || k->w[3] > EM__LOCAL_PID_ID_MAX)
        return false;
    uint32_t creation;
    em_term node = em_local_node(&creation);
    /* This node as it is now, or this program before its node started
     * (the name nonode@nohost, creation 0): an alias made then names a
     * process of this program still. */
    if (!(k->node == node && k->creation == creation) &&
        !(k->node == em__atom(EM__A_NONODE) && k->creation == 0))
        return false;
    *pid = em__local_pid(k->w[3], k->w[4]);
    return true;
}

void em__alias_del(em__proc *p, const em__refkey *k)
{
    long i = find(p, k);
    if (i >= 0)
        remove_at(p, i);
}

void em__alias_monitor_gone(em__proc *p, const em__refkey *k)
{
    if (p->naliases == 0 || k->n != ALIAS_WORDS)
        return; /* the common case: a monitor without an alias */
    long i = find(p, k);
    if (i >= 0 && (p->aliases[i].mode == EM_ALIAS_DEMONITOR || p->aliases[i].mode == EM_ALIAS_REPLY_DEMONITOR))
        remove_at(p, i);
}

bool em__alias_take(em__proc *p, const em__refkey *k, bool msg, int *mode)
{
    long i = find(p, k);
    if (i < 0)
        return false;
    *mode = p->aliases[i].mode;
    if (msg && (*mode == EM_ALIAS_REPLY || *mode == EM_ALIAS_REPLY_DEMONITOR))
        remove_at(p, i);
    return true;
}

int em__alias_send(em_term alias, em_term msg)
{
    em__refkey k;
    em_term pid;
    if (!em__refkey_of(alias, &k) || !em__alias_key(&k, &pid)) {
        em_drop(msg); /* no alias of this node: dropped, as in OTP */
        return 0;
    }
    int rc = em__link_signal(pid, EM__SIG_ALIAS_MSG, EM_NONE, &k, msg, EM_NONE);
    return rc == EM_ENOPROC ? 0 : rc;
}

void em__alias_exit(em__proc *p)
{
    free(p->aliases);
    p->aliases = NULL;
    p->naliases = p->capaliases = 0;
}

/* ---- the public calls ---- */

EM_API em_term em_alias_opt(int mode)
{
    em__proc *p = em__self_proc();
    em__refkey k;
    if (p == NULL || !em__alias_mode_ok(mode, false) || em__alias_add(p, mode, &k) < 0)
        return EM_NONE;
    em_term ref = em__refkey_term(&k);
    if (ref == EM_NONE)
        em__alias_del(p, &k);
    return ref;
}

EM_API em_term em_alias(void)
{
    return em_alias_opt(EM_ALIAS_EXPLICIT);
}

EM_API int em_unalias(em_term alias)
{
    em__proc *p = em__self_proc();
    if (p == NULL)
        return EM_ESTATE;
    em__refkey k;
    em_term pid;
    if (!em__refkey_of(alias, &k) || !em__alias_key(&k, &pid) || pid != em__proc_pid(p))
        return 0;
    long i = find(p, &k);
    if (i < 0)
        return 0;
    remove_at(p, i);
    return 1;
}
