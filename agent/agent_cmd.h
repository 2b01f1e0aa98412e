/* The `ignis agent` command line. */
#ifndef IGNIS_AGENT_CMD_H
#define IGNIS_AGENT_CMD_H

/* Exit status: 0, 1 (failure), 2 (bad usage or configuration). */
int agent_cmd__run(int argc, char **argv);

#endif
