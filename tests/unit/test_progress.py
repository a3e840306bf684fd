import io

from provena.progress import progress


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_silent_when_output_is_not_a_terminal():
    buf = io.StringIO()
    bar = progress(total=3, file=buf, desc="ingest")
    for _ in range(3):
        bar.update(1)
    bar.close()
    assert buf.getvalue() == ""


def test_progress_shows_on_a_terminal(monkeypatch):
    monkeypatch.delenv("PROVENA_NO_PROGRESS", raising=False)
    buf = FakeTTY()
    bar = progress(total=3, file=buf, desc="ingest", mininterval=0)
    bar.update(3)
    bar.close()
    assert "ingest" in buf.getvalue() and "3/3" in buf.getvalue()
