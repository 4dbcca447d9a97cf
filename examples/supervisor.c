/* supervisor.c: a minimal one_for_one supervisor, end to end.
 *
 * The supervisor traps exits and spawn_links its children.  When a child
 * exits abnormally it is restarted, unless there were more than
 * MAX_RESTARTS restarts within PERIOD_MS: then the supervisor gives up and
 * exits with reason `shutdown`, taking the remaining children with it, as
 * OTP's supervisor does with its restart intensity.
 *
 * The worker here crashes when it receives `crash`; the client below makes
 * it crash twice, then asks it for a value to show it is running again.
 *
 *   $ build/examples/supervisor
 */
#include <stdio.h>
#include <time.h>

#include <ember.h>

#define MAX_RESTARTS 3
#define PERIOD_MS 5000

/* ---- the supervisor ---- */

typedef struct child_spec {
    const char *name; /* registered name */
    em_proc_fn start;
} child_spec;

static em_term start_child(const child_spec *c)
{
    em_term pid = em_spawn_link(c->start, NULL);
    em_register(em_atom(c->name), pid);
    return pid;
}

static void supervisor(void *arg)
{
    const child_spec *specs = arg;
    int64_t restarts[MAX_RESTARTS + 1] = {0}; /* times of recent restarts */
    int nrestarts = 0;
    em_term pids[8];
    int n = 0;

    em_trap_exit(true);
    for (n = 0; specs[n].name; n++)
        pids[n] = start_child(&specs[n]);
    em_register(em_atom("sup"), em_self());

    for (;;) {
        em_term from, reason;
        em_receive(EM_INFINITY, "{'EXIT', From, Reason}", &from, &reason);
        int i = 0;
        while (i < n && !em_equal(pids[i], from))
            i++;
        if (i == n)
            continue; /* not one of ours */
        if (reason == em_atom("normal")) {
            em_printf("sup: ~s finished~n", specs[i].name);
            continue;
        }
        em_printf("sup: ~s exited with ~p, restarting~n", specs[i].name, reason);
        /* Restart intensity: at most MAX_RESTARTS in PERIOD_MS. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        int recent = 0;
        for (int k = 0; k < nrestarts; k++)
            if (now - restarts[k] < PERIOD_MS)
                restarts[recent++] = restarts[k];
        nrestarts = recent;
        if (nrestarts == MAX_RESTARTS) {
            em_printf("sup: too many restarts, shutting down~n");
            em_exit(em_atom("shutdown"));
        }
        restarts[nrestarts++] = now;
        pids[i] = start_child(&specs[i]);
    }
}

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

/* ---- a client driving the example ---- */

static void client(void *arg)
{
    (void)arg;
    em_term self = em_self();
    em_sleep(10); /* let the supervisor start */
    for (int round = 0; round < 2; round++) {
        em_send(em_atom("worker"), em_tuple(2, self, em_atom("crash")));
        em_sleep(10); /* the supervisor restarts it meanwhile */
    }
    em_send(em_atom("worker"), em_tuple(2, self, em_atom("hello")));
    em_term reply;
    if (em_receive(1000, "{served, N}", &reply) == 0)
        em_printf("client: worker answered {served, ~p} after two crashes~n", reply);
    else
        em_printf("client: no answer~n");
    em_stop(0);
}

int main(void)
{
    static const child_spec children[] = {{"worker", worker}, {NULL, NULL}};
    em_spawn(supervisor, (void *)children);
    em_spawn(client, NULL);
    return em_run();
}
