/* libFuzzer target: relabel rules built from the input (regex, replacement
 * and target as written in a config, and a label value from a pod), so
 * regex compilation, matching limits and $-expansion see hostile text.
 * Input: action byte, then regex \n replacement \n target \n value. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "identity/relabel.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *text, *field[4] = { 0 }, err[256];
	const char *src[] = { "v", "w" };
	struct relabel_rule rule = { 0 };
	struct label_set *s = NULL;
	struct relabel *r = NULL;
	bool keep;
	size_t k = 0;

	if (size < 1)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	field[0] = text;
	for (char *p = text; *p && k < 3; p++)
		if (*p == '\n') {
			*p = '\0';
			field[++k] = p + 1;
		}
	rule.action = (enum relabel_action)(data[0] % 6);
	rule.regex = field[0];
	if (rule.action != RELABEL_LABELDROP && rule.action != RELABEL_LABELKEEP) {
		rule.replacement = field[1];
		rule.target_label = field[2];
		rule.source_labels = src;
		rule.nsource_labels = 2;
	}
	relabel__check_regex(field[0], err, sizeof(err));
	r = relabel__new(&rule, 1, err, sizeof(err));
	s = label_set__new();
	if (r && s) {
		label_set__set(s, "v", field[3] ? field[3] : "");
		label_set__set(s, "w", field[1] ? field[1] : "");
		label_set__set(s, field[2] && *field[2] ? field[2] : "x", "1");
		relabel__apply(r, s, &keep);
	}
	label_set__free(s);
	relabel__free(r);
	free(text);
	return 0;
}
