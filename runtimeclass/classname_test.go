package runtimeclass

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"
)

// validClassName matches the regexp it replaced.
func TestValidClassNameMatchesRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$`)
	cases := []string{"", "a", "-", "a-", "-a", "a.b", "a..b", "hardened", strings.Repeat("a", 63), strings.Repeat("a", 64), "A", "a_b"}
	r := rand.New(rand.NewSource(1))
	const alphabet = "az09-.A_/"
	valid := 0
	for i := 0; i < 20000; i++ {
		b := make([]byte, r.Intn(70))
		for j := range b {
			b[j] = alphabet[r.Intn(len(alphabet))]
			if i%2 == 0 {
				b[j] = "az09-."[r.Intn(6)]
			}
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		if got, want := validClassName(c), re.MatchString(c); got != want {
			t.Fatalf("validClassName(%q) = %v, regexp %v", c, got, want)
		} else if got {
			valid++
		}
	}
	if valid == 0 {
		t.Fatal("no case was valid: the comparison says nothing")
	}
}
