/* rex.c: what a node answers to other nodes' rpc besides the program's own
 * exports: the functions every Erlang node has that tools call on any node
 * (erlang:node/0, nodes/0, registered/0, whereis/1), exported when the node
 * starts.  Their callers are OTP's erpc and rpc, which reach them through
 * spawn requests like any export (runtime/export.c). */
#include <ember/export.h>

#include "dist_int.h"

#define A(s) em_atom(s)

static em_term bi_node(const em_term *a, unsigned n)
{
    (void)a, (void)n;
    return em_local_node(NULL);
}

static em_term bi_nodes(const em_term *a, unsigned n)
{
    (void)a, (void)n;
    return em__dconn_nodes(true);
}

static em_term bi_registered(const em_term *a, unsigned n)
{
    (void)a, (void)n;
    return em_registered();
}

static em_term bi_whereis(const em_term *a, unsigned n)
{
    (void)n;
    if (em_typeof(a[0]) != EM_TYPE_ATOM)
        em_raise_stack(A("error"), A("badarg"),
                       em_list(1, em_tuple(4, A("erlang"), A("whereis"), em_list(1, em_dup(a[0])), EM_NIL)));
    em_term p = em_whereis(a[0]);
    return p != EM_NONE ? p : A("undefined");
}

void em__rex_exports(void)
{
    /* EM_EEXIST: the program exported its own first (it wins). */
    em_export("erlang", "node", 0, bi_node);
    em_export("erlang", "nodes", 0, bi_nodes);
    em_export("erlang", "registered", 0, bi_registered);
    em_export("erlang", "whereis", 1, bi_whereis);
}
