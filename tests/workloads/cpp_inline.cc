// A C++ workload for the symbolizer, built like a release binary (-O2 -g):
// a class template whose member does the work through an always-inlined
// helper, called from a lambda. A profiler must show the helper as its own
// (inlined) frame with its source line, and every name demangled.
// usage: cpp_inline SECONDS
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace shapes {

static volatile uint64_t sink;

// The hot helper: inlined into Accumulator<T>::run, never called.
inline __attribute__((always_inline)) uint64_t scramble(uint64_t x)
{
	for (int i = 0; i < 64; i++) {
		x ^= x >> 31;                        // SCRAMBLE-BODY
		x *= 0x9e3779b97f4a7c15ULL;          // SCRAMBLE-BODY
		x ^= x << 7;                         // SCRAMBLE-BODY
	}
	return x;
}

template <typename T>
struct Accumulator {
	T total{};

	__attribute__((noinline)) void run(const std::vector<T> &v)
	{
		for (const T &x : v)
			total += scramble(x);        // SCRAMBLE-CALL
	}
};

}  // namespace shapes

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 10;
	std::vector<uint64_t> v(4096);
	shapes::Accumulator<uint64_t> acc;
	auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);

	for (size_t i = 0; i < v.size(); i++)
		v[i] = i * 2654435761u;
	auto spin = [&](int rounds) __attribute__((noinline)) {
		for (int r = 0; r < rounds; r++)
			acc.run(v);
	};
	while (std::chrono::steady_clock::now() < end)
		spin(4);
	shapes::sink = acc.total;
	return 0;
}
