package console

import (
	"math"
	"regexp"
	"strconv"
	"testing"
)

// The state colours carry white text: each passes WCAG AA (4.5:1), read
// from the stylesheet itself.
func TestStateColoursPassWCAGAA(t *testing.T) {
	t.Parallel()
	css, err := staticFiles.ReadFile("static/console.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, class := range []string{"OK", "WARNING", "FAILED"} {
		m := regexp.MustCompile(`\.` + class + ` \{ background: #([0-9a-f]{6}); \}`).FindSubmatch(css)
		if m == nil {
			t.Fatalf("no background for .%s in console.css", class)
		}
		if ratio := contrast(string(m[1]), "ffffff"); ratio < 4.5 {
			t.Errorf(".%s: white on #%s is %.2f:1, under AA's 4.5:1", class, m[1], ratio)
		}
	}
}

// contrast is WCAG 2's contrast ratio of two sRGB colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

func luminance(hex string) float64 {
	var l [3]float64
	for i := range 3 {
		v, _ := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			l[i] = c / 12.92
		} else {
			l[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
}
