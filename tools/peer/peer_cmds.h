/* The subcommands of kvm-peer (kvm_peer.c dispatches; each lives in its own file). */
#ifndef PEER_CMDS_H
#define PEER_CMDS_H

int vmexit_command(int argc, char** argv); /* vmexit_cmd.c */
int share_command(int argc, char** argv);  /* share_cmd.c */

#endif
