/* kvm-peer: Metronome's measurements made on Linux KVM, through the KVM API directly (no QEMU).
 * It runs as part of the initramfs that `tools/metronome peer kvm` boots bare in Bochs; the
 * host tool turns what it prints into figures (tools/metronome_tool/peer_kvm.py).
 *
 *   kvm-peer vmexit [--iterations N]   exit round trips (vmexit_cmd.c)
 *   kvm-peer share ... VM...           VMs as threads under CFS for a window (share_cmd.c)
 *   kvm-peer e9                        copy stdin to Bochs' port 0xE9 (its stdout)
 *   kvm-peer shutdown                  end Bochs (its shutdown port 0x8900)
 *
 * Port 0xE9 is the fast way out: the serial console costs ~87 us of emulated time per byte
 * at 115200 baud, port 0xE9 one OUT. `poweroff -f` leaves Bochs running, the shutdown port ends
 * it (tools/PLATFORMS.md, "Ending a run").
 */
#include "kvm_vm.h"
#include "peer_cmds.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/io.h>
#include <unistd.h>

#define BOCHS_E9_PORT 0xE9
#define BOCHS_SHUTDOWN_PORT 0x8900

static int e9_command(void) {
    if (ioperm(BOCHS_E9_PORT, 1, 1) < 0) fail("ioperm(port 0xE9)");
    char buffer[4096];
    for (;;) {
        const ssize_t n = read(0, buffer, sizeof buffer);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("e9: read stdin");
        }
        for (ssize_t i = 0; i < n; ++i)
            outb((unsigned char)buffer[i], BOCHS_E9_PORT);
    }
}

static int shutdown_command(void) {
    if (ioperm(BOCHS_SHUTDOWN_PORT, 1, 1) < 0) fail("ioperm(port 0x8900)");
    for (const char* s = "Shutdown"; *s; ++s)
        outb((unsigned char)*s, BOCHS_SHUTDOWN_PORT);
    errno = 0;
    fail("shutdown: Bochs did not stop at the shutdown port (not Bochs?)");
}

int main(int argc, char** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "vmexit") == 0) return vmexit_command(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "share") == 0) return share_command(argc - 2, argv + 2);
    if (argc == 2 && strcmp(argv[1], "e9") == 0) return e9_command();
    if (argc == 2 && strcmp(argv[1], "shutdown") == 0) return shutdown_command();
    fprintf(stderr, "usage: kvm-peer vmexit [--iterations N] | share --label L --window-ms MS "
                    "[--gap-threshold T] VM... | e9 | shutdown\n");
    return 2;
}
