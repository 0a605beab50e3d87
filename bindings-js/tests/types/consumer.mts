// A small Node consumer of the package: type-checked with `tsc --noEmit` (never run). It must compile
// against the published .d.ts with strict settings, and the @ts-expect-error lines must stay errors.
import {
  allocatePayment, installmentSchedule, openpaygoGenerate, debtAging, normalizeSerial,
  type AccountSnapshot, type Allocation, type Decimal, type MicropowerError, type ScheduledInstallment,
  type DebtAging, type ErrorCode,
} from "micropower";
// In Node.js, "micropower" is the full module: the phone rules come from the same import.
import { normalizePhone, registrationFieldErrors, type FieldError } from "micropower";
import { revenueReport } from "micropower/full";

const snapshot: AccountSnapshot = {
  device: { serial: "MTR001", kind: "meter", registered_on: "2026-01-01", owner: { id: "C1", name: "Amina" } },
  billing: { kind: "meter", tariff: { currency: "TZS", price_per_kwh: "500" } },
  credit_balance: "0",
};

const allocation: Allocation = allocatePayment(snapshot, {
  serial: normalizeSerial("mtr-001"), amount: "1000", currency: "TZS", received_on: "2026-02-01",
});
const kwh: Decimal | undefined = allocation.token?.quantity;
const lines: number = allocation.lines.length;

const schedule: ScheduledInstallment[] = installmentSchedule(
  { total_cost: "120000", down_payment: "20000", installments: 4, period: "monthly", start_date: "2026-01-31" },
  "TZS",
);
const firstDue: string | undefined = schedule[0]?.due_date;

const token = openpaygoGenerate("a29ab82edc5fbbc41ec9530f6dac86b1", 123456789, 1, "add_time", "7", { restricted_digits: false });
const code: string = token.code;

const aging: DebtAging = debtAging([], "TZS", "2026-03-01");
const overdue: Decimal = aging.days_over_90.amount;

function describe(e: unknown): ErrorCode | "unknown" {
  if (e instanceof Error && "code" in e) return (e as MicropowerError).code;
  return "unknown";
}

// @ts-expect-error money is a decimal string, never a number
allocatePayment(snapshot, { serial: "MTR001", amount: 1000, currency: "TZS", received_on: "2026-02-01" });
// @ts-expect-error a billing kind the core does not know
const wrong: AccountSnapshot = { ...snapshot, billing: { kind: "prepaid", tariff: { currency: "TZS", price_per_kwh: "1" } } };
// @ts-expect-error not a period
installmentSchedule({ total_cost: "1", installments: 1, period: "yearly", start_date: "2026-01-01" }, "TZS");

const e164: string = normalizePhone("0712 345 678", "KE");
const formErrors: FieldError[] = registrationFieldErrors({
  customer: { name: "Amina", surname: "Juma", phone: e164, village_id: "V1" },
  device: { serial: "SHS1", kind: "solar_home_system", manufacturer_id: "M1" },
  registered_on: "2026-01-01",
});

export { kwh, lines, firstDue, code, overdue, describe, wrong, formErrors, revenueReport };
