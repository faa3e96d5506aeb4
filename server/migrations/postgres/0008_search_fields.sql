-- Search by field (from:, to:, subject:): the word vector weighs the
-- senders' words A, the recipients' B and the subject's C (the text keeps
-- D), so a query can ask for a word in one field. Content stored before
-- gains the weighted words of what the summary kept (names, subject);
-- new content also indexes addresses and attachment names.
UPDATE summaries SET words = setweight(to_tsvector('simple', sender), 'A')
    || setweight(to_tsvector('simple', recipients), 'B')
    || setweight(to_tsvector('simple', subject), 'C')
    || words;
