/* supervisor.c: a one_for_one supervisor from the library (<ember/sup.h>),
 * end to end.
 *
 * The supervisor starts one worker, registered as `worker`, and restarts
 * it when it exits abnormally, unless there were more than MAX_RESTARTS
 * restarts within PERIOD_MS: then it gives up and exits with reason
 * `shutdown`, taking the remaining children with it, as OTP's supervisor
 * does with its restart intensity.  Each restart is reported on stderr
 * (the supervisor's default report: OTP's child_terminated).
 *
 * The worker crashes when it receives `crash`; the client below makes it
 * crash twice, then asks it for a value to show it is running again, and
 * asks the supervisor what it supervises.  docs/supervisor.md walks
 * through the same program.
 *
 *   $ build/examples/supervisor
 */
#include <stdio.h>

#include <ember.h>

#define MAX_RESTARTS 3
#define PERIOD_MS 5000

/* ---- a worker ---- */

static void worker(void *arg)
{
    (void)arg;
    int64_t served = 0;
    for (;;) {
        em_term from, req;
        em_receive(EM_INFINITY, "{From, Req}", &from, &req);
        if (req == em_atom("crash"))
            em_exit(em_tuple(2, em_atom("bad_request"), em_dup(req)));
        served++;
        em_send(from, em_tuple(2, em_atom("served"), em_int(served)));
    }
}

/* Its start function: runs in the supervisor at every (re)start; spawns
 * the worker linked to the supervisor and gives it its name before anyone
 * can send to the new process. */
static int start_worker(void *arg, em_term *out)
{
    em_term pid = em_spawn_link(worker, arg);
    if (pid == EM_NONE)
        return EM_ENOMEM;
    em_register(em_atom("worker"), pid);
    *out = pid;
    return 0;
}

/* ---- the supervision tree ---- */

static const em_sup_child_spec children[] = {
    {.id = "worker", .start = start_worker, .restart = EM_SUP_PERMANENT, .shutdown = 1000},
};

static const em_sup_spec sup_spec = {
    .name = "sup",
    .strategy = EM_SUP_ONE_FOR_ONE,
    .intensity = MAX_RESTARTS,
    .period_ms = PERIOD_MS,
    .children = children,
    .nchildren = 1,
};

/* ---- a client driving the example ---- */

/* The worker's pid once it is not `old` (it is being restarted). */
static em_term worker_other_than(em_term old)
{
    em_term pid;
    while ((pid = em_whereis(em_atom("worker"))) == EM_NONE || pid == old)
        em_sleep(1);
    return pid;
}

static void client(void *arg)
{
    (void)arg;
    em_term self = em_self();
    em_term pid = worker_other_than(EM_NONE);
    for (int round = 0; round < 2; round++) {
        em_send(pid, em_tuple(2, self, em_atom("crash")));
        pid = worker_other_than(pid); /* the supervisor restarts it meanwhile */
    }
    em_send(em_atom("worker"), em_tuple(2, self, em_atom("hello")));
    em_term reply;
    if (em_receive(1000, "{served, N}", &reply) == 0)
        em_printf("client: worker answered {served, ~p} after two crashes~n", reply);
    else
        em_printf("client: no answer~n");

    em_sup_child_info *info;
    int n = em_sup_which_children(em_atom("sup"), &info);
    for (int i = 0; i < n; i++)
        em_printf("client: sup supervises ~s, ~p~n", info[i].id, info[i].pid);
    em_sup_children_free(info, n > 0 ? (size_t)n : 0);
    em_stop(0);
}

int main(void)
{
    em_term sup;
    int rc = em_sup_start(&sup_spec, &sup); /* from main(): blocks until started */
    if (rc < 0) {
        fprintf(stderr, "supervisor: %s\n", em_strerror(rc));
        return 1;
    }
    em_spawn(client, NULL);
    return em_run();
}
