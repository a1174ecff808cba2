package formats

// defaultPaths are each format's default field paths, first found first,
// by field; ok is false for an unknown format. A field with none is left
// empty unless a SourceConfig maps it. The type is not here: each format
// derives it itself (see docs/formats.md).
func defaultPaths(format string) (paths [numFields][]string, ok bool) {
	switch format {
	case Dowser:
		// Decoded by schema.Decoder; the paths only document it.
		paths[fType] = []string{"type"}
		paths[fID] = []string{"id"}
		paths[fTime] = []string{"time"}
		paths[fCustomerID] = []string{"customer.id"}
		paths[fAnonymousID] = []string{"customer.anonymous_id"}
		paths[fEmail] = []string{"customer.email"}
		paths[fAccountID] = []string{"customer.account_id"}
		paths[fLifecycle] = []string{"customer.lifecycle"}
		paths[fContentID] = []string{"content_id"}
		paths[fURL] = []string{"properties.url"}
		paths[fTitle] = []string{"properties.title"}
		paths[fReferrer] = []string{"properties.referrer"}
		paths[fSource] = []string{"source"}
	case Segment:
		// Segment's timestamp is the client's time corrected for its clock
		// skew; the others are the fallbacks a message straight from a
		// library may have instead. context.groupId is how the spec ties a
		// call other than group to an account.
		paths[fID] = []string{"messageId"}
		paths[fTime] = []string{"timestamp", "originalTimestamp", "sentAt", "receivedAt"}
		paths[fCustomerID] = []string{"userId"}
		paths[fAnonymousID] = []string{"anonymousId"}
		paths[fEmail] = []string{"traits.email", "context.traits.email"}
		paths[fAccountID] = []string{"groupId", "context.groupId"}
		paths[fURL] = []string{"properties.url", "context.page.url"}
		paths[fTitle] = []string{"properties.title", "context.page.title"}
		paths[fReferrer] = []string{"properties.referrer", "context.page.referrer"}
	case Snowplow:
		// derived_tstamp is Snowplow's best estimate of when the event
		// happened (device time corrected for clock skew).
		paths[fID] = []string{"event_id"}
		paths[fTime] = []string{"derived_tstamp", "collector_tstamp"}
		paths[fCustomerID] = []string{"user_id"}
		paths[fAnonymousID] = []string{"domain_userid", "network_userid"}
		paths[fURL] = []string{"page_url"}
		paths[fTitle] = []string{"page_title"}
		paths[fReferrer] = []string{"page_referrer"}
		paths[fSource] = []string{"app_id"}
	case CloudEvents:
		// CloudEvents says nothing of people: they are looked for in the
		// data, under the usual names.
		paths[fID] = []string{"id"}
		paths[fTime] = []string{"time"}
		paths[fCustomerID] = []string{"data.user_id", "data.userId"}
		paths[fAnonymousID] = []string{"data.anonymous_id", "data.anonymousId"}
		paths[fEmail] = []string{"data.email"}
		paths[fAccountID] = []string{"data.account_id", "data.accountId"}
		paths[fContentID] = []string{"data.content_id", "subject"}
		paths[fURL] = []string{"data.url"}
		paths[fTitle] = []string{"data.title"}
		paths[fReferrer] = []string{"data.referrer"}
		paths[fSource] = []string{"source"}
	default:
		return paths, false
	}
	return paths, true
}
