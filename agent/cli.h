/* What the subcommands (record, agent, check) share around getopt_long:
 * the usage exit status and the handling of -h, unknown options and
 * leftover operands. Header-only: a few lines each. */
#ifndef IGNIS_CLI_H
#define IGNIS_CLI_H

#include <getopt.h>
#include <stdio.h>

/* Bad usage: a wrong option, operand or value. */
#define EXIT_USAGE 2

/* For the 'h' and default cases of the option switch: -h prints usage on
 * stdout and exits 0; an option getopt did not know (it said which) prints
 * it on stderr and exits EXIT_USAGE. Returns the exit status. */
static inline int cli__help_or_usage(int c, void (*usage)(FILE *))
{
	usage(c == 'h' ? stdout : stderr);
	return c == 'h' ? 0 : EXIT_USAGE;
}

/* After the options: EXIT_USAGE, having said so, when an operand follows
 * them (cmd names the command in the message, "ignis record"); else 0. */
static inline int cli__no_operands(const char *cmd, int argc, char **argv,
				   void (*usage)(FILE *))
{
	if (optind >= argc)
		return 0;
	fprintf(stderr, "%s: unexpected argument '%s'\n", cmd, argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}

#endif
