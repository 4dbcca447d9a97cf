/* switch_x86_64.S: the context switch for x86-64 (System V ABI).
 * void *em__ctx_switch(void **from_sp, void *to_sp, void *arg)
 * Saves the callee-saved registers (rbp, rbx, r12-r15) on the current
 * stack, stores rsp in *from_sp, loads to_sp and restores the registers
 * saved there; `ret` then resumes the other context, whose own call of
 * em__ctx_switch returns arg (in rax, which no pop touches).  The SSE control word
 * (MXCSR) and x87 control word are process-wide settings ember never
 * changes, so they are not saved. */
#if defined(__x86_64__)
    .text
    .globl em__ctx_switch
    .hidden em__ctx_switch
    .type em__ctx_switch, @function
em__ctx_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rdx, %rax
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size em__ctx_switch, .-em__ctx_switch
#endif
    .section .note.GNU-stack,"",@progbits
