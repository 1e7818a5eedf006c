package alerts

import "testing"

func TestVersionOrder(t *testing.T) {
	// Each is older than the next.
	order := []string{"v0.0.0-20200101000000-000000000000", "v0.0.0-20261207212445-c685490abcde+dirty",
		"v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1",
		"1.0.0", "v1.2.0", "v1.10.0", "v2.0.0"}
	for i := range order {
		for j := range order {
			a, okA := parseVersion(order[i])
			b, okB := parseVersion(order[j])
			if !okA || !okB {
				t.Fatalf("%q or %q does not parse", order[i], order[j])
			}
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.compare(b); got != want {
				t.Errorf("compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	for _, s := range []string{"dev", "dev-3f2a1c9", "v1.2", "v01.2.3", "v1.2.3-", "v1.2.3-a..b", ""} {
		if _, ok := parseVersion(s); ok {
			t.Errorf("%q parsed as a version", s)
		}
	}
}
