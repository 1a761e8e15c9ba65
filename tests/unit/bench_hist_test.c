/* Unit tests of vbridge-bench's latency histogram: bucket precision, quantiles, merging. */
#include <stdint.h>

#include "../../tools/bench/hist.h"
#include "tap.h"

/* Reported values may exceed the recorded one by the bucket width: 1/64. */
static int close_above(uint64_t got, uint64_t want)
{
	return got >= want && got - want <= want / 64;
}

int main(void)
{
	static struct hist h, a, b;
	double worst = 0;
	int exact = 1, near = 1;

	hist_init(&h);
	ok(hist_quantile(&h, 0.5) == 0 && hist_mean(&h) == 0, "an empty histogram reports 0");

	for (uint64_t v = 0; v < 128; v++) {
		hist_init(&h);
		hist_record(&h, v);
		exact &= hist_quantile(&h, 0.5) == v;
	}
	ok(exact, "values below 128 are exact");

	/* one sample between two others: the median is its bucket's top */
	for (uint64_t v = 128; v < (1ull << 36); v = v * 3 / 2 + 7) {
		hist_init(&h);
		hist_record(&h, 1);
		hist_record(&h, v);
		hist_record(&h, UINT64_C(1) << 39);
		uint64_t got = hist_quantile(&h, 0.5);

		near &= close_above(got, v);
		if ((double)(got - v) / (double)v > worst)
			worst = (double)(got - v) / (double)v;
	}
	ok(near, "quantiles are within 1/64 above the recorded value (worst excess %.2f %%)",
	   100 * worst);

	hist_init(&h);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(&h, v * 1000);
	ok(close_above(hist_quantile(&h, 0.5), 50000000), "p50 of 1..100000 us is 50 ms (%llu)",
	   (unsigned long long)hist_quantile(&h, 0.5));
	ok(close_above(hist_quantile(&h, 0.99), 99000000), "p99 is 99 ms (%llu)",
	   (unsigned long long)hist_quantile(&h, 0.99));
	ok(close_above(hist_quantile(&h, 0.999), 99900000), "p99.9 is 99.9 ms (%llu)",
	   (unsigned long long)hist_quantile(&h, 0.999));
	ok(hist_quantile(&h, 1.0) == 100000000 && hist_quantile(&h, 0) == 1000,
	   "q=1 is the max and q=0 the min");
	ok(hist_mean(&h) == 50000500, "the mean is exact (%llu)", (unsigned long long)hist_mean(&h));

	/* a rare slow outlier moves p99.9 but not p99 */
	hist_init(&h);
	for (int i = 0; i < 998; i++)
		hist_record(&h, 10000);
	hist_record(&h, 5000000);
	hist_record(&h, 5000000);
	ok(close_above(hist_quantile(&h, 0.99), 10000) &&
	   close_above(hist_quantile(&h, 0.999), 5000000),
	   "2 slow samples in 1000: p99 fast, p99.9 slow");

	hist_init(&h);
	hist_record(&h, UINT64_C(1) << 50);
	ok(hist_quantile(&h, 0.5) == UINT64_C(1) << 50 && h.max == UINT64_C(1) << 50,
	   "a value beyond the last bucket is clamped to the recorded max");

	hist_init(&a);
	hist_init(&b);
	for (int i = 0; i < 1000; i++)
		hist_record(i % 2 ? &a : &b, (uint64_t)(i + 1) * 1000);
	hist_merge(&a, &b);
	ok(a.count == 1000 && a.min == 1000 && a.max == 1000000 &&
	   close_above(hist_quantile(&a, 0.5), 500000),
	   "merging two halves gives the whole (p50 %llu)", (unsigned long long)hist_quantile(&a, 0.5));
	return tap_done();
}
