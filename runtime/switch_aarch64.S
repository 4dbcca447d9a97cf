/* switch_aarch64.S: the context switch for AArch64 (AAPCS64).
 * void *em__ctx_switch(void **from_sp, void *to_sp, void *arg)
 * Saves x19-x30 and d8-d15 (the callee-saved registers) in a 160-byte frame
 * on the current stack, stores sp in *from_sp, loads to_sp, restores the
 * frame found there and returns to its x30 with arg in x0: the other
 * context's own call of em__ctx_switch returns arg. */
#if defined(__aarch64__)
    .text
    .globl em__ctx_switch
    .hidden em__ctx_switch
    .type em__ctx_switch, %function
em__ctx_switch:
    sub sp, sp, #160
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mov x9, sp
    str x9, [x0]
    mov x0, x2
    mov sp, x1
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #160
    ret
    .size em__ctx_switch, .-em__ctx_switch
#endif
    .section .note.GNU-stack,"",%progbits
