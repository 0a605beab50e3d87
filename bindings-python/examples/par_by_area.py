"""Portfolio at risk per area and revenue per month, from the server's export.

    python par_by_area.py export.jsonl                       # a file saved from GET /v1/export
    python par_by_area.py http://127.0.0.1:8080/v1/export --api-key KEY
    python par_by_area.py export.jsonl --as-of 2026-06-30 --plot revenue.png

Prints PAR30 for every catchment area and the monthly revenue, and draws the revenue as a bar chart
(PNG) when matplotlib is installed.
"""

import argparse
import sys

import micropower


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", help="export file or http(s) URL of /v1/export")
    parser.add_argument("--api-key", help="API key for a URL")
    parser.add_argument("--currency", help="report currency (needed when the export holds several)")
    parser.add_argument("--as-of", help="YYYY-MM-DD (default: the day of the export)")
    parser.add_argument("--plot", default="monthly_revenue.png", help="PNG to draw the revenue in")
    args = parser.parse_args(argv)

    ds = micropower.load_export(args.export, api_key=args.api_key)
    as_of = args.as_of or ds.as_of.isoformat()

    print("PAR30 per area as of %s" % as_of)
    print("%-20s %8s %14s %14s" % ("area", "PAR30", "at risk", "outstanding"))
    for area in ds.areas:
        par = ds.filter(area_id=area.id).portfolio_at_risk(30, currency=args.currency, as_of=as_of)
        print("%-20s %8s %14s %14s" % (area.name, format(par.ratio, ".2%"), par.at_risk, par.outstanding))
    whole = ds.portfolio_at_risk(30, currency=args.currency, as_of=as_of)
    print("%-20s %8s %14s %14s" % ("all areas", format(whole.ratio, ".2%"), whole.at_risk, whole.outstanding))

    revenue = ds.revenue(currency=args.currency, group_by="month")
    print("\nRevenue per month (%s)" % revenue.currency)
    for row in revenue:
        print("%-20s %14s" % (row.period_start.strftime("%Y-%m"), row.total))
    print("%-20s %14s" % ("total", revenue.total))

    try:
        import matplotlib
    except ImportError:
        print("\n(matplotlib is not installed: no plot)")
        return 0
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4))
    # Decimals are exact; the chart only needs floats.
    axes.bar([row.period_start.strftime("%Y-%m") for row in revenue], [float(row.total) for row in revenue])
    axes.set_title("Revenue per month (%s)" % revenue.currency)
    axes.set_ylabel(revenue.currency)
    figure.tight_layout()
    figure.savefig(args.plot)
    print("\nplot: %s" % args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
