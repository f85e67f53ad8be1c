/*
 * VM entry and VM exit, as one call that "returns" when the guest exits to the run loop.
 *
 *   VmEnterResult metronome_vm_enter(vmx::Vcpu* guest, int launched);   (RAX: rc, RDX: Vcpu)
 *
 * Saves the host's callee-saved registers, makes HOST_RSP this frame (written only when the
 * VMCS does not hold it already), loads the guest's general registers and CR2 from the Vcpu and
 * executes VMLAUNCH (launched == 0) or VMRESUME. HOST_RIP must be metronome_vm_exit: on a VM
 * exit the processor lands there with RSP = HOST_RSP, the guest's registers are stored back
 * into the Vcpu, and metronome_vm_exit_handler (vmx/exits/exit_handler.cpp) handles the exit.
 * When it returns 0 (or 2) the guest is resumed at once (the fast path: loads, VMRESUME); 3 is
 * a slice switch made below the run loop: this guest's CR2 is saved and the Vcpu it names
 * (resume_next, now current, its HOST_RSP this frame as well) takes the frame's slot and is
 * resumed with every register and CR2 its own; otherwise this call returns 0 to the run loop,
 * with the Vcpu in the slot, the guest that exited. The guest's CR2 stays in the register while the
 * fast path runs (root mode takes no page faults) and is saved only when the exit goes to the
 * run loop.
 * If the instruction itself fails, it returns 1 for VMfailInvalid (CF=1) or 2 for VMfailValid
 * (ZF=1; the VM-instruction error field says why), and 3 when HOST_RSP could not be written,
 * with the Vcpu whose entry failed.
 * (SDM "Conventions" for VMX instructions; "VM Exits": RSP/RIP come from the host-state area.)
 *
 * Offsets into the Vcpu: its GuestRegisters first (vmx/run/guest_registers.hpp), then
 * host_rsp (vmx/run/vcpu.hpp; static_asserts there pin both).
 */
    .set HOST_RSP_FIELD, 0x6c14
    .set VCPU_CR2, 0x78
    .set VCPU_HOST_RSP, 0x80
    .set VCPU_RESUME_NEXT, 0x88

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
    push %rdi                    /* (%rsp) = the Vcpu, found again on exit */

    cmp VCPU_HOST_RSP(%rdi), %rsp
    je 1f
    mov $HOST_RSP_FIELD, %rax
    vmwrite %rsp, %rax
    jbe .Lhost_rsp_failed
    mov %rsp, VCPU_HOST_RSP(%rdi)
1:
    test %esi, %esi
    jnz .Lload_and_resume

    mov VCPU_CR2(%rdi), %rax     /* guest CR2: no fault may happen from here to entry */
    mov %rax, %cr2
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
    vmlaunch
    jmp .Lentry_failed

/* The run loop's VMRESUME: CR2 and every register as the Vcpu holds them (another guest may
 * have run since). */
.Lload_and_resume:
    mov VCPU_CR2(%rdi), %rax
    mov %rax, %cr2
.Lreload_all:
    mov 0x30(%rdi), %rbp
    mov 0x58(%rdi), %r12
    mov 0x60(%rdi), %r13
    mov 0x68(%rdi), %r14
    mov 0x70(%rdi), %r15
/* The fast path's way back into the guest, with RDI = the Vcpu: CR2 is still the guest's, and so
 * are RBP and R12-R15, which the handler (SysV code) preserved. */
.Lresume_registers:
    mov 0x00(%rdi), %rax
    mov 0x08(%rdi), %rbx
    mov 0x10(%rdi), %rcx
    mov 0x18(%rdi), %rdx
    mov 0x20(%rdi), %rsi
    mov 0x38(%rdi), %r8
    mov 0x40(%rdi), %r9
    mov 0x48(%rdi), %r10
    mov 0x50(%rdi), %r11
    mov 0x28(%rdi), %rdi
    vmresume
.Lentry_failed:
    mov (%rsp), %rdx             /* the Vcpu whose entry failed (flags kept for the test) */
    mov $2, %eax                 /* VMfailValid unless CF says VMfailInvalid */
    jnc 1f
    mov $1, %eax
1:
    add $8, %rsp
    jmp .Lreturn

.Lhost_rsp_failed:
    mov (%rsp), %rdx
    mov $3, %eax
    add $8, %rsp
    jmp .Lreturn

    .globl metronome_vm_exit
    .type metronome_vm_exit, @function
metronome_vm_exit:
    push %rdi                    /* guest RDI; 8(%rsp) = the Vcpu */
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
    pop %rax
    mov %rax, 0x28(%rdi)
    /* RSP is HOST_RSP again, 16-byte aligned: the call below follows the SysV convention.
     * 0: resume at once (CR2 untouched: the handler does not fault); 2: resume, loading the CR2
     * a handler set (an injected page fault); 1: back to the run loop, CR2 saved for it; 3: CR2
     * saved, and the guest of the next slot resumed. */
    call _ZN3vmx9exit_fastERNS_4VcpuE   /* vmx::exit_fast(Vcpu&): metronome_vm_exit_handler */
    mov (%rsp), %rdi
    test %eax, %eax
    jz .Lresume_registers
    cmp $2, %eax
    je .Lload_and_resume
    mov %eax, %esi               /* 1 or 3 */
    mov %cr2, %rax
    mov %rax, VCPU_CR2(%rdi)
    cmp $3, %esi
    je .Lswitched
    mov %rdi, %rdx
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

/* 3: another guest's slice, begun below the run loop (vmx/run/run_loop.cpp, switch_below_loop). */
.Lswitched:
    mov VCPU_RESUME_NEXT(%rdi), %rdi
    mov %rdi, (%rsp)
    jmp .Lload_and_resume
    .size metronome_vm_enter, . - metronome_vm_enter

    .section .note.GNU-stack, "", @progbits
