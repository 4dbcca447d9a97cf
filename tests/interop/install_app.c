/* install_app.c: the program tests/interop/install.sh builds against an
 * installed ember, with nothing but `pkg-config ember` (shared and static).
 * It includes <ember.h> as a user does, spawns a process, sends it a
 * message, receives the reply and prints it:
 *     install_app: got hello back from <0.N.M>
 * and exits 0; any failure prints a line and exits 1. */
#include <stdio.h>

#include <ember.h>

static void echo(void *arg)
{
    (void)arg;
    em_term from, what;
    if (em_receive(5000, "{From, What}", &from, &what) == 0)
        em_send(from, em_tuple(3, em_atom("reply"), em_self(), em_dup(what)));
}

static int result = 1;

static void client(void *arg)
{
    (void)arg;
    em_term pid = em_spawn(echo, NULL);
    if (pid == EM_NONE) {
        fprintf(stderr, "install_app: em_spawn failed\n");
        return;
    }
    em_send(pid, em_tuple(2, em_self(), em_atom("hello")));
    em_term from, what;
    int rc = em_receive(5000, "{reply, From, What}", &from, &what);
    if (rc != 0 || !em_equal(from, pid)) {
        fprintf(stderr, "install_app: no reply: %s\n", rc ? em_strerror(rc) : "wrong sender");
        return;
    }
    em_printf("install_app: got ~p back from ~p~n", what, from);
    fflush(stdout);
    result = 0;
}

int main(void)
{
    if (em_spawn(client, NULL) == EM_NONE) {
        fprintf(stderr, "install_app: em_spawn failed\n");
        return 1;
    }
    int rc = em_run();
    return rc != 0 ? rc : result;
}
