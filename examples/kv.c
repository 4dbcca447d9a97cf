/* kv.c: a key-value store as an Erlang node written in C -- a gen_server,
 * its supervisor, and functions other nodes call, all through the public
 * API (<ember.h>).
 *
 *   kv -name NAME | -sname NAME [-setcookie COOKIE] [-hidden] [-connect_all false]
 *
 * Runs until killed.  The node is visible, as erl's are (erl lists it in
 * nodes()), unless -hidden; -connect_all false as erl takes it.
 *
 * What other nodes see:
 *  - a server registered as `kv`, which gen_server:call and cast reach:
 *        {put, K, V}   -> ok
 *        {get, K}      -> {ok, V} | error
 *        keys          -> the keys, sorted in term order
 *        {wait, K}     -> {ok, V} once K has a value (at once if it has
 *                         one; else the reply comes when someone puts K)
 *        cast {delete, K}
 *    started by the supervisor `kv_sup`, which starts it again, empty, if
 *    it dies; on a visible node the server is also registered with
 *    `global` as `kv` when no process in the cluster has that name, so
 *    gen_server:call({global, kv}, ...) reaches it from any node;
 *  - the functions of module kv, for rpc:call, erpc:call, spawn/4 and
 *    erl_call -a; each asks the server, so they share its one store:
 *        kv:put(K, V)  -> ok
 *        kv:get(K)     -> {ok, V} | error
 *        kv:delete(K)  -> ok
 *        kv:keys()     -> the keys, sorted
 *        kv:fetch(K)   -> V, or raises error {badkey, K}, as maps:get/2
 *        kv:wait(K, Ms) -> {ok, V}, or timeout when K has no value
 *                         within Ms milliseconds (or infinity)
 * Keys are told apart as a map tells them apart (=:=: 1 and 1.0 are two
 * keys).
 *
 * Try it, in two shells (kv prints its node's name; with -name, use an
 * address or a dotted host, e.g. kv@127.0.0.1: erl dials a long name
 * only by those):
 *
 *   $ build/examples/kv -sname kv -setcookie abc
 *   kv: node kv@myhost ready
 *
 *   $ erl -sname e -setcookie abc
 *   1> N = 'kv@myhost'.
 *   2> gen_server:call({kv, N}, {put, a, 1}).
 *   ok
 *   3> rpc:call(N, kv, get, [a]).
 *   {ok,1}
 *   4> rpc:call(N, kv, fetch, [b]).
 *   {badrpc,{'EXIT',{{badkey,b},[{kv,fetch,1,[]}]}}}
 *   5> spawn(fun() -> io:format("waited: ~p~n", [gen_server:call({kv, N}, {wait, b}, infinity)]) end).
 *   <0.97.0>
 *   6> rpc:call(N, kv, put, [b, 2]).
 *   waited: {ok,2}
 *   ok
 *   7> gen_server:cast({kv, N}, {delete, a}).
 *   ok
 *   8> rpc:call(N, kv, keys, []).
 *   [b]
 *
 * or from a shell: erl_call -sname kv -c abc -a 'kv get [b]'.
 *
 * The Erlang it mirrors is examples/erlang/kv.erl: a gen_server over a
 * map, which keeps the callers of {wait, K} and answers them with
 * gen_server:reply/2 when K is put, under a one_for_one supervisor.
 * tests/interop/kv.sh drives both alike and wants the same answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember.h>

/* The restart intensity: more than 5 restarts in 10 s and the supervisor
 * gives up; the node then stops, as a node whose permanent application
 * stopped. */
#define MAX_RESTARTS 5
#define PERIOD_MS 10000
/* gen_server:call's default timeout, used by the exported functions. */
#define CALL_TIMEOUT_MS 5000

/* ---- The store: the server's state ----------------------------------------
 * Only the server's process touches it, so it needs no lock. */

typedef struct kv_entry {
    em_term key, value;
} kv_entry;

/* A caller of {wait, Key} that has no reply yet: its `from` (for
 * em_reply), and a monitor of it, so that a caller that dies meanwhile is
 * forgotten (its DOWN reaches handle_info).  One whose call timed out but
 * that lives on is answered when Key comes, as gen_server would: the
 * reply is dropped on the way, the call's alias being gone. */
typedef struct kv_waiter {
    em_term key, from, mref;
    struct kv_waiter *next;
} kv_waiter;

typedef struct kv_store {
    kv_entry *entries; /* n of them, in key_order */
    size_t n, cap;
    kv_waiter *waiters;
} kv_store;

/* The order entries are kept in: Erlang's term order (so `keys` is
 * already sorted), and between keys equal in that order but not =:=
 * (1 and 1.0) the exact order, so each key has one place. */
static int key_order(em_term a, em_term b)
{
    int c = em_compare(a, b);
    return c != 0 ? c : em_compare_exact(a, b);
}

/* The index of key's entry (*found true), or where it would go. */
static size_t store_find(const kv_store *s, em_term key, bool *found)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_order(s->entries[mid].key, key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* The value of key (borrowed), or EM_NONE. */
static em_term store_get(const kv_store *s, em_term key)
{
    bool found;
    size_t i = store_find(s, key, &found);
    return found ? s->entries[i].value : EM_NONE;
}

/* Set key to value (both taken).  Returns 0 or EM_ENOMEM. */
static int store_put(kv_store *s, em_term key, em_term value)
{
    bool found;
    size_t i = store_find(s, key, &found);
    if (found) {
        em_drop(key);
        em_drop(s->entries[i].value);
        s->entries[i].value = value;
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        kv_entry *e = realloc(s->entries, cap * sizeof *e);
        if (e == NULL) {
            em_drop(key);
            em_drop(value);
            return EM_ENOMEM;
        }
        s->entries = e;
        s->cap = cap;
    }
    memmove(&s->entries[i + 1], &s->entries[i], (s->n - i) * sizeof *s->entries);
    s->entries[i] = (kv_entry){key, value};
    s->n++;
    return 0;
}

static void store_delete(kv_store *s, em_term key)
{
    bool found;
    size_t i = store_find(s, key, &found);
    if (!found)
        return;
    em_drop(s->entries[i].key);
    em_drop(s->entries[i].value);
    s->n--;
    memmove(&s->entries[i], &s->entries[i + 1], (s->n - i) * sizeof *s->entries);
}

/* The keys as a new list, in order. */
static em_term store_keys(const kv_store *s)
{
    em_term list = EM_NIL;
    for (size_t i = s->n; i-- > 0;)
        list = em_cons(em_dup(s->entries[i].key), list);
    return list;
}

static void waiter_free(kv_waiter *w)
{
    em_drop(w->key);
    em_drop(w->from);
    em_drop(w->mref);
    free(w);
}

/* Runs when the server's process ends, however it ends (a kill included,
 * which skips terminate): everything the store holds goes. */
static void store_free(void *arg)
{
    kv_store *s = arg;
    for (size_t i = 0; i < s->n; i++) {
        em_drop(s->entries[i].key);
        em_drop(s->entries[i].value);
    }
    free(s->entries);
    while (s->waiters) {
        kv_waiter *w = s->waiters;
        s->waiters = w->next;
        waiter_free(w);
    }
    free(s);
}

/* ---- The server: gen_server callbacks -------------------------------------- */

/* Register the server (arg: its pid) with global as kv, unless another
 * process of the cluster has the name.  A process of its own: the lock
 * global takes may make it wait, and the server serves meanwhile. */
static void register_globally(void *arg)
{
    em_term server = (em_term)(uintptr_t)arg;
    em_term kv = em_atom("kv"), holder = em_global_whereis(kv);
    if (holder == EM_NONE)
        em_global_register(kv, server); /* EM_EEXIST: someone was quicker; EM_ESTATE: hidden */
    em_drop(holder);
}

static int kv_init(void *arg, void **state, em_term *reason)
{
    kv_store *s = calloc(1, sizeof *s);
    if (s == NULL || em_on_exit(store_free, s) < 0) {
        free(s);
        *reason = em_atom("enomem");
        return EM_SERVER_STOP;
    }
    *state = s;
    em_spawn(register_globally, (void *)(uintptr_t)em_self()); /* a local pid: an immediate */
    return EM_SERVER_OK;
}

/* Answer every caller waiting for key, which now has value (borrowed). */
static void wake_waiters(kv_store *s, em_term key, em_term value)
{
    kv_waiter **p = &s->waiters;
    while (*p) {
        kv_waiter *w = *p;
        if (em_equal(w->key, key)) {
            em_reply(w->from, em_tuple(2, em_atom("ok"), em_dup(value)));
            em_demonitor(w->mref, EM_DEMONITOR_FLUSH);
            *p = w->next;
            waiter_free(w);
        } else {
            p = &w->next;
        }
    }
}

/* Keep the caller (from, borrowed) until key gets a value. */
static int add_waiter(kv_store *s, em_term key, em_term from)
{
    kv_waiter *w = malloc(sizeof *w);
    if (w == NULL)
        return EM_ENOMEM;
    w->key = em_dup(key);
    w->from = em_dup(from);
    w->mref = em_monitor(em_tuple_get(from, 0)); /* the caller's pid */
    w->next = s->waiters;
    s->waiters = w;
    return 0;
}

static int kv_handle_call(void *state, em_term req, em_term from, em_term *reply, em_term *reason)
{
    kv_store *s = state;
    em_term k, v;

    if (em_match("{put, K, V}", req, &k, &v) == 1) {
        wake_waiters(s, k, v);
        int rc = store_put(s, em_dup(k), em_dup(v));
        *reply = rc == 0 ? em_atom("ok") : em_tuple(2, em_atom("error"), em_atom("enomem"));
    } else if (em_match("{get, K}", req, &k) == 1) {
        v = store_get(s, k);
        *reply = v != EM_NONE ? em_tuple(2, em_atom("ok"), em_dup(v)) : em_atom("error");
    } else if (req == em_atom("keys")) {
        *reply = store_keys(s);
    } else if (em_match("{wait, K}", req, &k) == 1) {
        v = store_get(s, k);
        if (v != EM_NONE)
            *reply = em_tuple(2, em_atom("ok"), em_dup(v));
        else if (add_waiter(s, k, from) == 0)
            return EM_SERVER_NOREPLY; /* wake_waiters replies */
        else
            *reply = em_tuple(2, em_atom("error"), em_atom("enomem"));
    } else {
        *reply = em_tuple(2, em_atom("error"), em_atom("badreq"));
    }
    return EM_SERVER_REPLY;
}

static int kv_handle_cast(void *state, em_term req, em_term *reason)
{
    em_term k;
    if (em_match("{delete, K}", req, &k) == 1)
        store_delete(state, k);
    return EM_SERVER_OK;
}

/* A waiting caller died: forget it. */
static int kv_handle_info(void *state, em_term msg, em_term *reason)
{
    kv_store *s = state;
    em_term mref;
    if (em_match("{'DOWN', Ref, process, _, _}", msg, &mref) != 1)
        return EM_SERVER_OK;
    for (kv_waiter **p = &s->waiters; *p; p = &(*p)->next) {
        if (em_equal((*p)->mref, mref)) {
            kv_waiter *w = *p;
            *p = w->next;
            waiter_free(w);
            break;
        }
    }
    return EM_SERVER_OK;
}

static const em_server_ops kv_ops = {
    .init = kv_init,
    .handle_call = kv_handle_call,
    .handle_cast = kv_handle_cast,
    .handle_info = kv_handle_info,
};

/* ---- The supervisor ---------------------------------------------------------- */

/* The child's start: gen_server:start_link({local, kv}, kv, [], []), run
 * by the supervisor at every (re)start. */
static int start_kv(void *arg, em_term *pid)
{
    return em_server_start_link(&kv_ops, NULL, em_atom("kv"), pid); /* 0 or < 0: init never ignores */
}

static const em_sup_child_spec kv_children[] = {
    {.id = "kv", .start = start_kv, .restart = EM_SUP_PERMANENT, .shutdown = 1000},
};

static const em_sup_spec kv_sup = {
    .name = "kv_sup",
    .strategy = EM_SUP_ONE_FOR_ONE,
    .intensity = MAX_RESTARTS,
    .period_ms = PERIOD_MS,
    .children = kv_children,
    .nchildren = 1,
};

/* Stops the node when the supervisor gives up. */
static void watch_supervisor(void *arg)
{
    em_term ref = em_monitor(em_atom("kv_sup")), reason;
    em_receive_ref(EM_INFINITY, ref, "{'DOWN', Ref, process, _, Reason}", &reason);
    em_fprintf(stderr, "kv: the supervisor exited (~p): stopping~n", reason);
    em_drop(ref);
    em_stop(1);
}

/* ---- The functions of module kv ------------------------------------------------
 * Each runs in a process of its own, made for its caller, and asks the
 * server with a call, as an Erlang module's API functions wrap
 * gen_server:call. */

/* A failed call raises what gen_server:call raises: exit({Reason,
 * {gen_server, call, [kv, Request, Timeout]}}).  request and reason taken. */
static void raise_call_failure(int rc, em_term reason, em_term request, int64_t timeout_ms)
{
    switch (rc) {
    case EM_ETIMEDOUT: reason = em_atom("timeout"); break;
    case EM_ENOPROC: reason = em_atom("noproc"); break; /* being restarted */
    case EM_EEXIT: break;                               /* it died during the call */
    default: em_drop(reason); reason = em_atom(em_err_name(rc)); break;
    }
    em_term timeout = timeout_ms == EM_INFINITY ? em_atom("infinity") : em_int(timeout_ms);
    em_term args = em_list(3, em_atom("kv"), request, timeout);
    em_raise(em_atom("exit"), em_tuple(2, reason, em_tuple(3, em_atom("gen_server"), em_atom("call"), args)));
}

/* gen_server:call(kv, Request) (request taken): the reply. */
static em_term call_kv(em_term request)
{
    em_term copy = em_dup(request), reply;
    int rc = em_call(em_atom("kv"), request, CALL_TIMEOUT_MS, &reply);
    if (rc < 0)
        raise_call_failure(rc, reply, copy, CALL_TIMEOUT_MS);
    em_drop(copy);
    return reply;
}

/* kv:put(K, V) -> ok */
static em_term kv_put(const em_term *args, unsigned nargs)
{
    return call_kv(em_tuple(3, em_atom("put"), em_dup(args[0]), em_dup(args[1])));
}

/* kv:get(K) -> {ok, V} | error */
static em_term kv_get(const em_term *args, unsigned nargs)
{
    return call_kv(em_tuple(2, em_atom("get"), em_dup(args[0])));
}

/* kv:delete(K) -> ok.  A cast, then a call the server answers after it
 * (messages from one process arrive in order): when delete returns, the
 * key is gone. */
static em_term kv_delete(const em_term *args, unsigned nargs)
{
    em_cast(em_atom("kv"), em_tuple(2, em_atom("delete"), em_dup(args[0])));
    em_drop(call_kv(em_tuple(2, em_atom("get"), em_dup(args[0]))));
    return em_atom("ok");
}

/* kv:keys() -> [K] */
static em_term kv_keys(const em_term *args, unsigned nargs)
{
    return call_kv(em_atom("keys"));
}

/* kv:fetch(K) -> V, or error({badkey, K}) as maps:get(K, Map) */
static em_term kv_fetch(const em_term *args, unsigned nargs)
{
    em_term got = call_kv(em_tuple(2, em_atom("get"), em_dup(args[0]))), v;
    if (em_match("{ok, V}", got, &v) != 1) {
        em_drop(got);
        em_raise(em_atom("error"), em_tuple(2, em_atom("badkey"), em_dup(args[0])));
    }
    v = em_dup(v);
    em_drop(got);
    return v;
}

/* kv:wait(K, Ms) -> {ok, V} | timeout.  Ms: milliseconds or infinity. */
static em_term kv_wait(const em_term *args, unsigned nargs)
{
    int64_t ms = EM_INFINITY;
    if (args[1] != em_atom("infinity") && (em_int_get(args[1], &ms) < 0 || ms < 0))
        em_raise(em_atom("error"), em_atom("badarg"));
    em_term request = em_tuple(2, em_atom("wait"), em_dup(args[0]));
    em_term copy = em_dup(request), reply;
    int rc = em_call(em_atom("kv"), request, ms, &reply);
    if (rc == EM_ETIMEDOUT) {
        em_drop(copy);
        return em_atom("timeout"); /* the server's late reply is dropped: the call's alias is gone */
    }
    if (rc < 0)
        raise_call_failure(rc, reply, copy, ms);
    em_drop(copy);
    return reply;
}

/* ---- main --------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    em_node_opts node;
    em_node_opts_init(&node);
    if (em_node_args(&argc, argv, &node) < 0 || argc != 1) {
        fprintf(stderr, "usage: kv -name NAME | -sname NAME [-setcookie COOKIE] [-hidden] [-connect_all false]\n");
        return 2;
    }
    em_export("kv", "put", 2, kv_put);
    em_export("kv", "get", 1, kv_get);
    em_export("kv", "delete", 1, kv_delete);
    em_export("kv", "keys", 0, kv_keys);
    em_export("kv", "fetch", 1, kv_fetch);
    em_export("kv", "wait", 2, kv_wait);

    int rc = em_node_start_opts(&node);
    if (rc < 0) {
        fprintf(stderr, "kv: cannot start node %s: %s\n", node.name, em_strerror(rc));
        return 1;
    }
    em_term sup;
    rc = em_sup_start(&kv_sup, &sup); /* blocks until kv runs */
    if (rc < 0) {
        em_fprintf(stderr, "kv: cannot start the supervisor: ~s ~p~n", em_strerror(rc), sup);
        return 1;
    }
    em_spawn(watch_supervisor, NULL);
    em_printf("kv: node ~p ready~n", em_local_node(NULL));
    fflush(stdout);
    return em_run();
}
