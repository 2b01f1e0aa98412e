#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/array.h"

int array__reserve(void **items, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *n;

	if (need <= *cap)
		return 0;
	if (!elem)
		return -EINVAL;
	ncap = *cap ? *cap : ARRAY_MIN_CAP;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / elem)
		return -ENOMEM;
	n = realloc(*items, ncap * elem);
	if (!n)
		return -ENOMEM;
	*items = n;
	*cap = ncap;
	return 0;
}
