/* libFuzzer target: what delivery reads from HTTP answers (Retry-After
 * values, error bodies quoted in logs). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/delivery.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char out[256], small[3], *s;
	uint64_t ms;

	delivery__server_message((const char *)data, size, out, sizeof(out));
	delivery__server_message((const char *)data, size, small, sizeof(small));
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	delivery__parse_retry_after(s, 1700000000, &ms);
	free(s);
	return 0;
}
