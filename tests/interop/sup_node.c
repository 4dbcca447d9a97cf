/* sup_node.c: a C node with a supervision tree, for tests/interop/sup.sh.
 *
 *   sup_node -sname NAME [-setcookie COOKIE]
 *
 * The tree: `sup` (registered, one_for_one, 5 restarts in 10 s) with
 *   one    permanent worker, registered `one`: {From, Msg} -> From ! {one, Msg}
 *   two    transient worker
 *   inner  a nested supervisor (one_for_one) with one worker, `three`
 * Prints "ready" once the tree is up; runs until killed (or until `sup`
 * gives up: then it prints "sup exited <Reason>" and exits 0).
 * Public API only, like a user's program. */
#include <stdio.h>

#include <ember.h>

static void worker(void *arg)
{
    const char *name = arg;
    for (;;) {
        em_term from, msg;
        em_receive(EM_INFINITY, "{From, Msg}", &from, &msg);
        em_send(from, em_tuple(2, em_atom(name), em_dup(msg)));
    }
}

static int start_one(void *arg, em_term *out)
{
    em_term pid = em_spawn_link(worker, arg);
    if (pid == EM_NONE)
        return EM_ENOMEM;
    em_register(em_atom("one"), pid);
    *out = pid;
    return 0;
}

static const em_sup_child_spec inner_children[] = {{.id = "three", .fn = worker, .arg = "three"}};
static const em_sup_spec inner = {.strategy = EM_SUP_ONE_FOR_ONE, .intensity = 5, .period_ms = 10000,
                                  .children = inner_children, .nchildren = 1};
static const em_sup_child_spec children[] = {
    {.id = "one", .start = start_one, .arg = "one"},
    {.id = "two", .fn = worker, .arg = "two", .restart = EM_SUP_TRANSIENT},
    {.id = "inner", .start = em_sup_start_nested, .arg = (void *)&inner, .type = EM_SUP_SUPERVISOR},
};
static const em_sup_spec spec = {.name = "sup", .strategy = EM_SUP_ONE_FOR_ONE, .intensity = 5,
                                 .period_ms = 10000, .children = children, .nchildren = 3};

/* Waits for the supervisor's end and says so. */
static void watcher(void *arg)
{
    em_term sup = *(em_term *)arg;
    em_term ref = em_monitor(sup);
    em_term reason;
    em_receive_ref(EM_INFINITY, ref, "{'DOWN', Ref, process, _, Reason}", &reason);
    em_printf("sup exited ~p~n", reason);
    em_drop(ref);
    em_stop(0);
}

int main(int argc, char **argv)
{
    em_node_opts node;
    em_node_opts_init(&node);
    if (em_node_args(&argc, argv, &node) < 0 || argc != 1) {
        fprintf(stderr, "usage: sup_node -name|-sname NAME [-setcookie COOKIE]\n");
        return 2;
    }
    int rc = em_node_start_opts(&node);
    if (rc < 0) {
        fprintf(stderr, "sup_node: cannot start node %s: %s\n", node.name, em_strerror(rc));
        return 1;
    }
    static em_term sup;
    rc = em_sup_start(&spec, &sup);
    if (rc < 0) {
        fprintf(stderr, "sup_node: cannot start the supervisor: %s\n", em_strerror(rc));
        return 1;
    }
    em_spawn(watcher, &sup);
    printf("ready\n");
    fflush(stdout);
    return em_run();
}
