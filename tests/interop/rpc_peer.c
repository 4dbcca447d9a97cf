/* rpc_peer.c: the ember side of tests/interop/rpc.sh (compiled by it).
 *
 *   rpc_peer NODEFLAGS serve     exports the twins of rpc_helper.erl's
 *       functions under module rpc_helper (pair/2, boom/1, ex/1, th/1,
 *       slow/1, echo/2, gl/0, signal/0), prints "started" once the node
 *       runs, and serves until killed.
 * NODEFLAGS are erl's: -name|-sname N -setcookie C.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ember.h>

#define A(s) em_atom(s)

static em_term pair(const em_term *a, unsigned n)
{
    (void)n;
    return em_tuple(2, em_dup(a[1]), em_dup(a[0]));
}
static em_term boom(const em_term *a, unsigned n)
{
    (void)n;
    em_raise(A("error"), em_dup(a[0]));
    return EM_NONE;
}
static em_term ex(const em_term *a, unsigned n)
{
    (void)n;
    em_raise(A("exit"), em_dup(a[0]));
    return EM_NONE;
}
static em_term th(const em_term *a, unsigned n)
{
    (void)n;
    em_raise(A("throw"), em_dup(a[0]));
    return EM_NONE;
}
static em_term slow(const em_term *a, unsigned n)
{
    (void)n;
    int64_t ms = 0;
    em_int_get(a[0], &ms);
    em_sleep(ms);
    return A("done");
}
static em_term echo(const em_term *a, unsigned n)
{
    (void)n;
    em_send(a[0], em_tuple(3, A("echo"), em_dup(a[1]), em_self()));
    return A("ok");
}
static em_term gl(const em_term *a, unsigned n)
{
    (void)a, (void)n;
    return em_dup(em_group_leader());
}
static em_term signal_self(const em_term *a, unsigned n)
{
    (void)a, (void)n;
    em_exit_pid(em_self(), A("kill"));
    return A("not_reached");
}

int main(int argc, char **argv)
{
    em_node_opts o;
    em_node_opts_init(&o);
    if (em_node_args(&argc, argv, &o) < 0 || argc < 2) {
        fprintf(stderr, "usage: rpc_peer -name|-sname N -setcookie C serve\n");
        return 2;
    }
    if (strcmp(argv[1], "serve") != 0)
        return 2;
    static const struct {
        const char *f;
        unsigned arity;
        em_export_fn fn;
    } xs[] = {{"pair", 2, pair}, {"boom", 1, boom}, {"ex", 1, ex},   {"th", 1, th},
              {"slow", 1, slow}, {"echo", 2, echo}, {"gl", 0, gl}, {"signal", 0, signal_self}};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
        if (em_export("rpc_helper", xs[i].f, xs[i].arity, xs[i].fn) < 0)
            return 1;
    int rc = em_node_start_opts(&o);
    if (rc < 0) {
        fprintf(stderr, "rpc_peer: %s\n", em_strerror(rc));
        return 1;
    }
    printf("started\n");
    fflush(stdout);
    return em_run();
}
