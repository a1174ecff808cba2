package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dowserhq/dowser"
)

// TestBrowserCardsShowWhomToCallAgainstTheDemo runs the demo with
// --contact-identity name,title,email, finds a rep with an alert about a
// person who consented and one about a person who did not, and logs the
// rep into the panel: the first card shows the person's name (the
// customer id on hover), title and a mailto link; the second only the
// customer id. With DOWSER_DOCS_SCREENSHOTS=1 the panel is saved as
// docs/img/panel-person.png, the screenshot the docs show.
func TestBrowserCardsShowWhomToCallAgainstTheDemo(t *testing.T) {
	// Without the simulated reps: their acknowledgements redraw cards.
	app := startApp(t, func(c *serveConfig) {
		c.Demo, c.DemoRate, c.demoRepsOff, c.ContactIdentity = true, 20, true, "name,title,email"
	})
	ctx := browser(t)

	type listed struct {
		Alert struct {
			ID         string
			CustomerID string `json:"customer_id"`
		}
		Person *dowser.Person
	}
	var rep string
	var named, unnamed listed
	deadline := time.Now().Add(2 * time.Minute)
	for rep == "" {
		for _, r := range []string{"rep-ana", "rep-ben", "rep-cho"} {
			var list struct{ Alerts []listed }
			app.do("GET", "/v1/alerts?limit=50", "demo-"+r+"-token", nil, http.StatusOK, &list)
			named, unnamed = listed{}, listed{}
			for _, la := range list.Alerts {
				switch {
				case la.Alert.CustomerID == "":
				case la.Person != nil && named.Person == nil:
					named = la
				case la.Person == nil && unnamed.Alert.ID == "":
					unnamed = la
				}
			}
			if named.Person != nil && unnamed.Alert.ID != "" {
				rep = r
				break
			}
		}
		if rep == "" {
			if time.Now().After(deadline) {
				t.Fatal("no rep with alerts about a consenting and a not consenting person within 2 minutes of the demo's start")
			}
			time.Sleep(time.Second) // the demo's traffic runs on
		}
	}
	p := named.Person
	if p.ID != named.Alert.CustomerID || p.Name == "" || p.Title == "" || !strings.Contains(p.Email, "@") {
		t.Fatalf("listed person %+v of an alert about %s; want name, title and e-mail", p, named.Alert.CustomerID)
	}
	t.Logf("%s: %s is %s; %s gave no consent", rep, p.ID, p.Name, unnamed.Alert.CustomerID)

	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		if err := chromedp.Run(c, actions...); err != nil {
			screenshot(t, ctx, "failed")
			t.Fatalf("%s: %v", what, err)
		}
	}
	namedCard := `#alerts li.alert[data-id="` + named.Alert.ID + `"]`
	unnamedCard := `#alerts li.alert[data-id="` + unnamed.Alert.ID + `"]`
	step("logging in",
		chromedp.Navigate("http://"+app.HTTPAddr()+"/"),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, "demo-"+rep+"-token", chromedp.ByID),
		chromedp.Click(`#login`, chromedp.ByID),
		chromedp.WaitVisible(`#conn[data-state="connected"]`, chromedp.ByQuery),
		chromedp.WaitVisible(namedCard, chromedp.ByQuery),
		chromedp.WaitVisible(unnamedCard, chromedp.ByQuery),
	)
	var name, hover, title, mailto string
	var unnamedID string
	var unnamedNames int
	step("reading the cards",
		chromedp.Text(namedCard+` .person-name`, &name, chromedp.ByQuery),
		chromedp.AttributeValue(namedCard+` .person-name`, "title", &hover, nil, chromedp.ByQuery),
		chromedp.Text(namedCard+` .person-title`, &title, chromedp.ByQuery),
		chromedp.AttributeValue(namedCard+` a.person-email`, "href", &mailto, nil, chromedp.ByQuery),
		chromedp.Text(unnamedCard+` .customer-id`, &unnamedID, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('`+unnamedCard+` .person-name, `+unnamedCard+` .person-title, `+unnamedCard+` .person-email').length`, &unnamedNames),
	)
	if name != p.Name || !strings.Contains(hover, p.ID) || !strings.Contains(title, p.Title) || mailto != "mailto:"+p.Email {
		t.Errorf("consenting person's card: name %q (hover %q), title %q, mailto %q; want %+v", name, hover, title, mailto, p)
	}
	if unnamedID != unnamed.Alert.CustomerID || unnamedNames != 0 {
		t.Errorf("card of a person without consent: id %q and %d identity parts; want %s alone", unnamedID, unnamedNames, unnamed.Alert.CustomerID)
	}
	step("showing the named card", chromedp.ScrollIntoView(namedCard, chromedp.ByQuery))
	if os.Getenv("DOWSER_DOCS_SCREENSHOTS") != "" {
		var png []byte
		step("taking the screenshot", chromedp.CaptureScreenshot(&png))
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "img", "panel-person.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		screenshot(t, ctx, "panel-person")
	}
}
