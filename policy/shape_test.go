package policy

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"
)

// The hand-written shape checks match the regexps they replaced, on edge
// cases and on random strings over the characters that matter.
func TestShapesMatchTheirRegexps(t *testing.T) {
	criID := regexp.MustCompile(`^[0-9a-f]{64}$`)
	uid := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	cases := []string{"", "a", ".", "-a", "a-", "a..b", strings.Repeat("a", 64), strings.Repeat("f", 63), strings.Repeat("0", 65),
		strings.Repeat("A", 64), strings.Repeat("x", 128), strings.Repeat("x", 129), "0123e4567-e89b-12d3-a456-426614174000",
		"a/b", "a b", "ä", "a\x00"}
	r := rand.New(rand.NewSource(1))
	const alphabet = "0af9gzAFZ._-/ \x00\xc3"
	for i := 0; i < 20000; i++ {
		n := r.Intn(140)
		if i%4 == 0 {
			n = 64
		}
		b := make([]byte, n)
		for j := range b {
			b[j] = alphabet[r.Intn(len(alphabet))]
			if i%2 == 0 { // mostly valid characters
				b[j] = "0123456789abcdef"[r.Intn(16)]
			}
		}
		cases = append(cases, string(b))
	}
	var sawCRI, sawUID int
	for _, c := range cases {
		if got, want := isCRIID(c), criID.MatchString(c); got != want {
			t.Fatalf("isCRIID(%q) = %v, regexp %v", c, got, want)
		} else if got {
			sawCRI++
		}
		if got, want := isUIDShape(c), uid.MatchString(c); got != want {
			t.Fatalf("isUIDShape(%q) = %v, regexp %v", c, got, want)
		} else if got {
			sawUID++
		}
	}
	if sawCRI == 0 || sawUID == 0 {
		t.Fatalf("the cases never matched (CRI %d, UID %d): the comparison says nothing", sawCRI, sawUID)
	}
}
