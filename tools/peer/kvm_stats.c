/* kvm_stats.h: the binary statistics file of a vCPU (Documentation/virt/kvm/api.rst, "KVM
 * binary statistics"): a header, descriptors with names and offsets, then the data. */
#include "kvm_stats.h"

#include "kvm_vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

const char* const vcpu_stat_names[VCPU_STAT_COUNT] = {VCPU_STAT_NAMES};

static void read_at(int fd, void* buffer, size_t size, uint64_t offset, const char* what) {
    if (pread(fd, buffer, size, (off_t)offset) != (ssize_t)size) fail("read %s", what);
}

void vcpu_stats_open(struct vcpu_stats* s, int vcpu_fd, const char* vm_name) {
    memset(s, 0, sizeof *s);
    s->fd = ioctl(vcpu_fd, KVM_GET_STATS_FD, NULL);
    if (s->fd < 0) fail("KVM_GET_STATS_FD (VM %s)", vm_name);
    struct kvm_stats_header header;
    read_at(s->fd, &header, sizeof header, 0, "the KVM statistics header");
    const size_t desc_size = sizeof(struct kvm_stats_desc) + header.name_size;
    char* desc = malloc(desc_size);
    if (desc == NULL) fail("out of memory");
    for (unsigned k = 0; k < VCPU_STAT_COUNT; ++k)
        s->offset[k] = UINT32_MAX;
    for (uint32_t i = 0; i < header.num_desc; ++i) {
        read_at(s->fd, desc, desc_size, header.desc_offset + (uint64_t)i * desc_size,
                "a KVM statistics descriptor");
        const struct kvm_stats_desc* d = (const struct kvm_stats_desc*)desc;
        if (d->size != 1) continue; /* histograms */
        for (unsigned k = 0; k < VCPU_STAT_COUNT; ++k)
            if (strncmp(d->name, vcpu_stat_names[k], header.name_size) == 0)
                s->offset[k] = header.data_offset + d->offset;
    }
    free(desc);
}

void vcpu_stats_read(struct vcpu_stats* s) {
    for (unsigned k = 0; k < VCPU_STAT_COUNT; ++k)
        if (s->offset[k] != UINT32_MAX)
            read_at(s->fd, &s->value[k], sizeof s->value[k], s->offset[k], vcpu_stat_names[k]);
}

void vcpu_stats_print_delta(const struct vcpu_stats* before, const struct vcpu_stats* after) {
    int first = 1;
    for (unsigned k = 0; k < VCPU_STAT_COUNT; ++k) {
        if (after->offset[k] == UINT32_MAX) continue;
        printf("%s\"%s\":%llu", first ? "" : ",", vcpu_stat_names[k],
               (unsigned long long)(after->value[k] - before->value[k]));
        first = 0;
    }
}
