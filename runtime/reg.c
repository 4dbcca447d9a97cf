/* reg.c: the registry of process names (register/unregister/whereis).
 * One table for the runtime, an open-addressing hash from name (atom) to
 * pid under a mutex.  Invariant: a process has at most one name, p->name,
 * and the table holds name -> pid exactly for live processes with a name. */
#include <stdlib.h>

#include "rt.h"

typedef struct entry {
    em_term name; /* 0 = empty, 1 = deleted */
    em_term pid;
} entry;

static entry *tab;
static size_t cap, used, live;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

#define DELETED ((em_term)1)

static size_t slot_of(em_term name)
{
    uint64_t h = name * 0x9e3779b97f4a7c15u;
    return (size_t)(h >> 20) & (cap - 1);
}

static entry *find(em_term name)
{
    if (cap == 0)
        return NULL;
    for (size_t i = slot_of(name);; i = (i + 1) & (cap - 1)) {
        if (tab[i].name == name)
            return &tab[i];
        if (tab[i].name == 0)
            return NULL;
    }
}

static int grow(void)
{
    size_t ncap = cap ? cap * 2 : 64;
    entry *old = tab;
    size_t ocap = cap;
    entry *n = calloc(ncap, sizeof *n);
    if (n == NULL)
        return EM_ENOMEM;
    tab = n;
    cap = ncap;
    used = live;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].name > DELETED) {
            size_t j = slot_of(old[i].name);
            while (tab[j].name)
                j = (j + 1) & (cap - 1);
            tab[j] = old[i];
        }
    }
    free(old);
    return 0;
}

EM_API int em_register(em_term name, em_term pid)
{
    if (!em__is_atom(name) || name == em__atom(EM__A_UNDEFINED))
        return EM_EBADARG;
    em__proc *p = em__proc_acquire(pid);
    if (p == NULL)
        return EM_EBADARG;
    int rc = 0;
    pthread_mutex_lock(&lock);
    if (p->name != EM_NONE || find(name) != NULL) {
        rc = EM_EBADARG;
    } else if ((used + 1) * 2 > cap && (rc = grow()) < 0) {
        /* out of memory */
    } else {
        size_t i = slot_of(name);
        while (tab[i].name > DELETED)
            i = (i + 1) & (cap - 1);
        if (tab[i].name == 0)
            used++;
        tab[i].name = name;
        tab[i].pid = pid;
        live++;
        p->name = name;
    }
    pthread_mutex_unlock(&lock);
    em__proc_release(p);
    return rc;
}

static void remove_entry(entry *e)
{
    e->name = DELETED;
    e->pid = EM_NONE;
    live--;
}

EM_API int em_unregister(em_term name)
{
    pthread_mutex_lock(&lock);
    entry *e = em__is_atom(name) ? find(name) : NULL;
    int rc = EM_EBADARG;
    if (e) {
        em__proc *p = em__proc_lookup_slot(em__local_pid_id(e->pid));
        if (p && p->name == name)
            p->name = EM_NONE;
        remove_entry(e);
        rc = 0;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

EM_API em_term em_whereis(em_term name)
{
    pthread_mutex_lock(&lock);
    entry *e = em__is_atom(name) ? find(name) : NULL;
    em_term pid = e ? e->pid : EM_NONE;
    pthread_mutex_unlock(&lock);
    return pid;
}

EM_API em_term em_registered(void)
{
    em_term l = EM_NIL;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < cap && l != EM_NONE; i++)
        if (tab[i].name > DELETED)
            l = em_cons(tab[i].name, l);
    pthread_mutex_unlock(&lock);
    return l;
}

void em__reg_remove_proc(em__proc *p)
{
    if (p->name == EM_NONE)
        return;
    pthread_mutex_lock(&lock);
    entry *e = find(p->name);
    if (e && e->pid == em__proc_pid(p))
        remove_entry(e);
    p->name = EM_NONE;
    pthread_mutex_unlock(&lock);
}

void em__reg_fini(void)
{
    pthread_mutex_lock(&lock);
    free(tab);
    tab = NULL;
    cap = used = live = 0;
    pthread_mutex_unlock(&lock);
}
