package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// loginFieldValue finds the login token in the login form.
var loginFieldValue = regexp.MustCompile(`name="` + LoginField + `" value="([^"]+)"`)

// LogIn logs a program (a benchmark, a test) into the console at base as
// a browser does: it reads the login form for its login token (the
// cookie and the field), then posts token with it. header is added to
// both requests (nil: none). The caller closes the answer's body; a
// client with a cookie jar keeps the session.
func LogIn(ctx context.Context, c *http.Client, base, token string, header http.Header) (*http.Response, error) {
	page, err := http.NewRequestWithContext(ctx, http.MethodGet, base+Prefix+"/login", nil)
	if err != nil {
		return nil, err
	}
	addHeader(page, header)
	res, err := c.Do(page)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	m := loginFieldValue.FindSubmatch(body)
	var cookie *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == LoginCookie {
			cookie = ck
		}
	}
	if m == nil || cookie == nil {
		return nil, fmt.Errorf("the login page (%s) has no login token", res.Status)
	}
	form := url.Values{"token": {token}, LoginField: {string(m[1])}}
	post, err := http.NewRequestWithContext(ctx, http.MethodPost, base+Prefix+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	addHeader(post, header)
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.Jar == nil {
		post.AddCookie(&http.Cookie{Name: LoginCookie, Value: cookie.Value})
	}
	return c.Do(post)
}

func addHeader(r *http.Request, header http.Header) {
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
}
