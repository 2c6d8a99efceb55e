"""Hypothesis strategies for date strings, shared by the filter parser and agreement tests."""

from __future__ import annotations

from hypothesis import strategies as st


# Dates: strings built around the edges of the grammar (month 13, day 31 of April, hour 24,
# offset +24:00, 0 to 10 fraction digits) so that the SQL date arithmetic meets every branch.
def two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


date_parts = st.tuples(
    st.sampled_from(["0000", "0001", "1900", "1970", "2000", "2023", "2024", "2100", "9999"]),
    two(0, 13),
    two(0, 32),
    st.one_of(
        st.just(""),
        st.tuples(
            st.sampled_from(["T", " ", "t"]),
            two(0, 24),
            two(0, 60),
            two(0, 60),
            st.one_of(st.just(""), st.text("0123456789", max_size=10).map(lambda f: "." + f)),
            st.one_of(
                st.sampled_from(["", "Z", "z"]),
                st.tuples(st.sampled_from("+-"), two(0, 24), two(0, 60)).map(
                    lambda z: f"{z[0]}{z[1]}:{z[2]}"
                ),
            ),
        ).map(lambda t: f"{t[0]}{t[1]}:{t[2]}:{t[3]}{t[4]}{t[5]}"),
    ),
)
edge_dates = date_parts.map(lambda p: f"{p[0]}-{p[1]}-{p[2]}{p[3]}")
