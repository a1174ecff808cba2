package dowser

// Content is a piece of marketing content (a page, a webinar, a paper) and
// the marketer who owns it.
type Content struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	URLPrefix string `json:"url_prefix"`
	OwnerID   string `json:"owner"`
}

// Validate checks every field of the content item; a [Problems] names
// every field refused. That the owner is a user who may own it is the
// caller's to check ([CheckOwner]).
func (c Content) Validate() error {
	return checkFields(KindContent, "id", c.ID, "title", c.Title, "url_prefix", c.URLPrefix, "owner", c.OwnerID).Err()
}
