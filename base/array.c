#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/array.h"

int array__reserve(void **items, size_t *cap, size_t need, size_t elem)
{
	return array__reserve_from(items, cap, need, elem, ARRAY_MIN_CAP);
}

int array__reserve_from(void **items, size_t *cap, size_t need, size_t elem, size_t first)
{
	size_t ncap;
	void *n;

	if (need <= *cap)
		return 0;
	if (!elem || (!*cap && !first))
		return -EINVAL;
	ncap = *cap ? *cap : first;
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
