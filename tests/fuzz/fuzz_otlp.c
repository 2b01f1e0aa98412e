/* libFuzzer target: what the otlp exporter reads from a receiver -- an
 * answer body under every kind of status (an ExportProfilesServiceResponse
 * for 2xx, a google.rpc.Status otherwise, or anything a proxy sends) --
 * and the span and trace ids it reads from sample labels. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/otlp.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const long statuses[] = { 200, 400, 429, 500, 503 };
	char reason[300], *s;
	uint8_t id[16];
	int64_t rejected;
	bool partial;

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		otlp__read_answer(statuses[i], (const char *)data, size, &rejected, &partial, reason,
				  sizeof(reason));
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	otlp__parse_id(s, id, 16);
	otlp__parse_id(s, id, 8);
	free(s);
	return 0;
}
