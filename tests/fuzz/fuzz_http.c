/* libFuzzer target: what the HTTP layer reads from answers (Retry-After
 * values, error bodies quoted in logs). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char out[256], small[3], *s;
	uint64_t ms;

	http__server_message((const char *)data, size, out, sizeof(out));
	http__server_message((const char *)data, size, small, sizeof(small));
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	http__parse_retry_after(s, 1700000000, &ms);
	free(s);
	return 0;
}
