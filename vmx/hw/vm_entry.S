/*
 * VM entry and VM exit, as one call that "returns" when the guest exits.
 *
 *   int metronome_vm_enter(vmx::GuestRegisters* regs, int launched);
 *
 * Saves the host's callee-saved registers, points HOST_RSP at this frame, loads the guest's
 * general registers and CR2 from *regs and executes VMLAUNCH (launched == 0) or VMRESUME.
 * HOST_RIP must hold metronome_vm_exit. On a VM exit the processor lands there with RSP =
 * HOST_RSP; the guest's registers are stored back into *regs and the call returns 0.
 * If the instruction itself fails, it returns 1 for VMfailInvalid (CF=1) or 2 for VMfailValid
 * (ZF=1; the VM-instruction error field says why), and 3 when HOST_RSP could not be written.
 * (SDM "Conventions" for VMX instructions; "VM Exits": RSP/RIP come from the host-state area.)
 *
 * RBX..R15 as offsets into GuestRegisters: see vmx/run/guest_registers.hpp.
 */
    .set HOST_RSP_FIELD, 0x6c14

    .text
    .globl metronome_vm_enter
    .type metronome_vm_enter, @function
metronome_vm_enter:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    push %rdi                    /* (%rsp) = regs, found again on exit */

    mov $HOST_RSP_FIELD, %rax
    vmwrite %rsp, %rax
    jbe .Lhost_rsp_failed

    mov 0x78(%rdi), %rax         /* guest CR2: no fault may happen from here to entry */
    mov %rax, %cr2
    test %esi, %esi              /* flags survive the MOVs below */
    mov 0x00(%rdi), %rax
    mov 0x08(%rdi), %rbx
    mov 0x10(%rdi), %rcx
    mov 0x18(%rdi), %rdx
    mov 0x20(%rdi), %rsi
    mov 0x30(%rdi), %rbp
    mov 0x38(%rdi), %r8
    mov 0x40(%rdi), %r9
    mov 0x48(%rdi), %r10
    mov 0x50(%rdi), %r11
    mov 0x58(%rdi), %r12
    mov 0x60(%rdi), %r13
    mov 0x68(%rdi), %r14
    mov 0x70(%rdi), %r15
    mov 0x28(%rdi), %rdi
    jnz .Lresume
    vmlaunch
    jmp .Lentry_failed
.Lresume:
    vmresume
.Lentry_failed:
    mov $2, %eax                 /* VMfailValid unless CF says VMfailInvalid */
    jnc 1f
    mov $1, %eax
1:
    add $8, %rsp
    jmp .Lreturn

.Lhost_rsp_failed:
    mov $3, %eax
    add $8, %rsp
    jmp .Lreturn

    .globl metronome_vm_exit
    .type metronome_vm_exit, @function
metronome_vm_exit:
    push %rdi                    /* guest RDI; 8(%rsp) = regs */
    mov 8(%rsp), %rdi
    mov %rax, 0x00(%rdi)
    mov %rbx, 0x08(%rdi)
    mov %rcx, 0x10(%rdi)
    mov %rdx, 0x18(%rdi)
    mov %rsi, 0x20(%rdi)
    mov %rbp, 0x30(%rdi)
    mov %r8, 0x38(%rdi)
    mov %r9, 0x40(%rdi)
    mov %r10, 0x48(%rdi)
    mov %r11, 0x50(%rdi)
    mov %r12, 0x58(%rdi)
    mov %r13, 0x60(%rdi)
    mov %r14, 0x68(%rdi)
    mov %r15, 0x70(%rdi)
    mov %cr2, %rax
    mov %rax, 0x78(%rdi)
    pop %rax
    mov %rax, 0x28(%rdi)
    add $8, %rsp
    xor %eax, %eax
.Lreturn:
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret
    .size metronome_vm_enter, . - metronome_vm_enter

    .section .note.GNU-stack, "", @progbits
