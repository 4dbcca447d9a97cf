/* pg_node.c: an ember node for tests/interop/pg.sh, driven from Erlang.
 *
 *     pg_node -sname NAME -setcookie C [-published | -hidden]
 *
 * Registers `ctl`, which answers {From, Ref, Request} with {Ref, Reply}:
 *   {start, Scope}               em_pg_start: ok | {error, Code}
 *   {spawn_join, Scope, Group}   a new member process joins: {ok, Pid}
 *                                (it sends From {member_got, Self, Msg} for
 *                                every message but `stop`, which ends it)
 *   {join | leave, Scope, Group, PidOrPids}
 *                                ok | not_joined | {error, Code}
 *   {members | local_members, Scope, Group}, {which_groups, Scope}
 *   {stop_member, Pid}           ok (the member exits)
 *   die                          the program ends at once (no reply)
 * and prints "ready" once the node runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ember.h>

#define A(s) em_atom(s)

static void member_main(void *arg)
{
    em_term *report = arg; /* the pid to tell what arrives (owned) */
    for (;;) {
        em_term m;
        if (em_receive_any(EM_INFINITY, &m) < 0)
            continue;
        if (m == A("stop"))
            break;
        em_send(*report, em_tuple(3, A("member_got"), em_self(), em_dup(m)));
    }
    em_drop(*report);
    free(report);
}

static em_term result(int rc)
{
    if (rc == 0)
        return A("ok");
    if (rc == EM_ENOTFOUND)
        return A("not_joined");
    return em_tuple(2, A("error"), A(em_err_name(rc)));
}

static em_term handle(em_term from, em_term req)
{
    em_term op = em_tuple_size(req) > 0 ? em_tuple_get(req, 0) : req;
    em_term a1 = em_tuple_get(req, 1), a2 = em_tuple_get(req, 2), a3 = em_tuple_get(req, 3);
    if (op == A("die")) {
        fflush(stdout);
        _exit(0);
    }
    if (op == A("start"))
        return result(em_pg_start(a1));
    if (op == A("spawn_join")) {
        em_term *report = malloc(sizeof *report);
        if (report == NULL)
            return result(EM_ENOMEM);
        *report = em_dup(from);
        em_term pid = em_spawn(member_main, report);
        int rc = em_pg_join(a1, a2, pid);
        return rc == 0 ? em_tuple(2, A("ok"), pid) : result(rc);
    }
    if (op == A("join"))
        return result(em_pg_join(a1, a2, a3));
    if (op == A("leave"))
        return result(em_pg_leave(a1, a2, a3));
    if (op == A("members"))
        return em_pg_get_members(a1, a2);
    if (op == A("local_members"))
        return em_pg_get_local_members(a1, a2);
    if (op == A("which_groups"))
        return em_pg_which_groups(a1);
    if (op == A("stop_member")) {
        em_send(a1, A("stop"));
        return A("ok");
    }
    return A("unknown_request");
}

static void ctl_main(void *arg)
{
    (void)arg;
    em_register(A("ctl"), em_self());
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        em_term m;
        if (em_receive_any(EM_INFINITY, &m) < 0)
            continue;
        if (em_tuple_size(m) != 3 || em_typeof(em_tuple_get(m, 0)) != EM_TYPE_PID)
            continue;
        em_term from = em_dup(em_tuple_get(m, 0)), ref = em_dup(em_tuple_get(m, 1));
        em_term reply = handle(from, em_tuple_get(m, 2));
        em_send(from, em_tuple(2, ref, reply));
        em_drop(from);
    }
}

int main(int argc, char **argv)
{
    bool published = false;
    int out = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-published") == 0)
            published = true;
        else if (strcmp(argv[i], "-hidden") == 0)
            published = false;
        else
            argv[out++] = argv[i];
    }
    argv[out] = NULL;
    argc = out;
    em_node_opts o;
    em_node_opts_init(&o);
    if (em_node_args(&argc, argv, &o) < 0) {
        fprintf(stderr, "usage: pg_node -sname NAME -setcookie C [-published | -hidden]\n");
        return 2;
    }
    o.published = published;
    int rc = em_node_start_opts(&o);
    if (rc < 0) {
        fprintf(stderr, "em_node_start: %s\n", em_strerror(rc));
        return 1;
    }
    em_spawn(ctl_main, NULL);
    return em_run();
}
