package postgres

// MarkPermanent exposes the classifier to the tests of package
// postgres_test, which hold it to errors a real PostgreSQL returns.
var MarkPermanent = markPermanent
