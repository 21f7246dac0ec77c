"""Descriptions: Zenodo's HTML reduced to bounded plain text."""

from esap_ossr.description import description_text


def test_paragraphs_and_entities_become_text():
    html = "<h1>Title</h1><p>Fast &amp; <b>small</b>&nbsp;tool.</p><ul><li>one</li><li>two</li></ul>"
    assert description_text(html) == "Title\n\nFast & small tool.\n\none\n\ntwo"


def test_scripts_styles_and_handlers_leave_nothing_behind():
    html = '<style>p{}</style><p onclick="evil()">Text<script>evil()</script></p><iframe src="x">frame</iframe>'
    assert description_text(html) == "Text"


def test_an_unclosed_script_hides_the_rest_rather_than_showing_code():
    assert description_text("<p>Before</p><script>var stolen = document.cookie; <p>after</p>") == "Before"


def test_text_is_bounded_with_an_ellipsis():
    text = description_text("<p>" + "word " * 1000 + "</p>", limit=100)
    assert len(text) == 100 and text.endswith(" …") and text.startswith("word word")
