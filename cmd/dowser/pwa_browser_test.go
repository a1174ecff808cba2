package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// awaitJS evaluates a promise-returning expression and waits for it.
func awaitJS(expr string, out any) chromedp.Action {
	return chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })
}

// The panel is an installable app: the server gives the manifest its media
// type and the service worker a no-cache header; in Chromium the page links
// a manifest that parses without errors, the service worker activates and
// caches the shell but no API data, a live alert becomes an OS notification
// once the rep turned them on (permission granted through CDP, as a click
// on the browser's prompt would), and the sound setting outlives a reload.
func TestBrowserPanelInstallableNotifiesAndKeepsSound(t *testing.T) {
	app := startApp(t)
	app.seed()
	origin := "http://" + app.HTTPAddr()
	for path, want := range map[string][2]string{
		"/manifest.webmanifest": {"application/manifest+json", ""},
		"/sw.js":                {"text/javascript; charset=utf-8", "no-cache"},
	} {
		resp, err := http.Get(origin + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := [2]string{resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control")}; resp.StatusCode != http.StatusOK || got != want {
			t.Errorf("GET %s: %d, Content-Type and Cache-Control %q, want %q", path, resp.StatusCode, got, want)
		}
	}

	_, step := panelSteps(t, app, "/")
	var manifestURL string
	var manifestErrs []*page.AppManifestError
	step("reading the linked manifest", chromedp.ActionFunc(func(ctx context.Context) (err error) {
		manifestURL, manifestErrs, _, _, err = page.GetAppManifest().Do(ctx)
		return err
	}))
	if manifestURL != origin+"/manifest.webmanifest" || len(manifestErrs) > 0 {
		for _, e := range manifestErrs {
			t.Errorf("manifest error: %s (line %d)", e.Message, e.Line)
		}
		t.Errorf("manifest linked at %q, want %s/manifest.webmanifest", manifestURL, origin)
	}

	var state string
	step("awaiting the service worker", awaitJS(`navigator.serviceWorker.ready.then((r) => r.active.state === 'activated' ? 'activated' :
		new Promise((ok) => r.active.addEventListener('statechange', (e) => e.target.state === 'activated' && ok('activated'))))`, &state))
	if state != "activated" {
		t.Errorf("service worker %q, want activated", state)
	}
	var cached []string
	step("reading the shell cache", awaitJS(`caches.keys().then((names) => Promise.all(names.filter((n) => n.startsWith('dowser-shell-'))
		.map((n) => caches.open(n).then((c) => c.keys())))).then((lists) => lists.flat().map((r) => new URL(r.url).pathname))`, &cached))
	for _, want := range []string{"/", "/app.js", "/pwa.js", "/manifest.webmanifest", "/icon-512.png"} {
		if !slices.Contains(cached, want) {
			t.Errorf("shell cache %v lacks %s", cached, want)
		}
	}
	for _, p := range cached {
		if strings.HasPrefix(p, "/v1/") {
			t.Errorf("shell cache holds API data %s", p)
		}
	}
	var installErrs []*page.InstallabilityError
	step("asking whether the page is installable", chromedp.ActionFunc(func(ctx context.Context) (err error) {
		installErrs, err = page.GetInstallabilityErrors().Do(ctx)
		return err
	}))
	for _, e := range installErrs {
		t.Errorf("not installable: %s %v", e.ErrorID, e.ErrorArguments)
	}

	// Notifications: the permission as the browser's prompt would give it,
	// then the rep's click on "Desktop alerts".
	step("granting notifications", chromedp.ActionFunc(func(ctx context.Context) error {
		c := chromedp.FromContext(ctx)
		return cdpbrowser.GrantPermissions([]cdpbrowser.PermissionType{cdpbrowser.PermissionTypeNotifications}).WithOrigin(origin).
			Do(cdp.WithExecutor(ctx, c.Browser))
	}))
	step("turning desktop alerts on",
		chromedp.Click(`#notify`, chromedp.ByID),
		chromedp.WaitVisible(`#notify[aria-pressed="true"]`, chromedp.ByQuery),
		// The rep is in another window: the panel notifies only then.
		chromedp.Evaluate(`document.hasFocus = () => false`, nil),
	)
	w := app.writer()
	now := time.Now()
	app.produce(w,
		kv(pricingView("acme", "c-1", now.Add(-3*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-2*time.Minute))),
		kv(pricingView("acme", "c-1", now.Add(-time.Minute))),
	)
	var shown []string
	step("awaiting the notification",
		chromedp.WaitVisible(`#alerts li.alert`, chromedp.ByQuery),
		awaitJS(`navigator.serviceWorker.ready.then(async (r) => {
			for (;;) {
				const ns = await r.getNotifications();
				if (ns.length) return ns.map((n) => n.title + ' | ' + n.body);
				await new Promise((ok) => setTimeout(ok, 100));
			}
		})`, &shown))
	if len(shown) != 1 || shown[0] != "High · Pricing research | acme: pricing viewed 3 times" {
		t.Errorf("notifications %q, want the alert's", shown)
	}

	// Sound: off by default; urgent turned on survives a reload.
	var before, after []bool
	checked := `[...document.querySelectorAll('#sound input[name="sound"]')].map((i) => i.checked)`
	step("turning the urgent sound on",
		chromedp.Evaluate(checked, &before),
		chromedp.Click(`#sound summary`, chromedp.ByQuery),
		chromedp.Click(`#sound input[value="urgent"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#sound-state`, chromedp.ByID),
	)
	step("reloading",
		chromedp.Reload(),
		chromedp.WaitVisible(`#conn[data-state="connected"]`, chromedp.ByQuery),
		chromedp.Evaluate(checked, &after),
	)
	var stateText, stored string
	step("reading the setting", chromedp.Evaluate(`document.getElementById('sound-state').textContent`, &stateText),
		chromedp.Evaluate(`localStorage.getItem('dowser.panel.sound.v1')`, &stored))
	if fmt.Sprint(before) != "[false false false false]" || fmt.Sprint(after) != "[true false false false]" || stateText != "On" {
		t.Errorf("sound boxes before %v, after the reload %v (%q, stored %s); want all off, then urgent on", before, after, stateText, stored)
	}
}
