// Runs every case of every shared vector file (tests/vectors/*.json) through the Kotlin bindings:
// - through the generic `call` (every case), output compared as JSON for exact equality, errors by code and
//   by the Kotlin exception class (`MicropowerException.UnknownSerial` for `unknown_serial`);
// - through the typed function as well, where the bindings have one: the vector's JSON input is turned into
//   the Kotlin records, the function is called, and its records are written back as JSON and compared.
//   A case whose input cannot be written as the typed arguments at all (a float where a decimal string
//   belongs, a negative count for a UInt, an unknown argument name) is left to the generic run.
package org.micropower.tests

import java.io.File
import org.micropower.*

class Unmappable(why: String) : Exception(why)

/** Counts typed runs, so the report can say how many cases went through a typed function. */
object TypedStats {
    var ran = 0
    var unmappable = 0
}

fun runVectors(t: Tally, dir: File) {
    val files = dir.listFiles { f -> f.name.endsWith(".json") }?.sortedBy { it.name }
        ?: throw IllegalStateException("no vectors in $dir")
    val functionsSeen = HashSet<String>()
    var cases = 0
    for (file in files) {
        val doc = parseJson(file.readText()) as Map<*, *>
        val function = doc["function"] as String
        functionsSeen.add(function)
        val typed = TYPED[function]
        for (case in doc["cases"] as List<*>) {
            case as Map<*, *>
            cases++
            val label = "${file.name} / ${case["name"]}"
            val input = case["input"] as Map<*, *>
            t.check("$label [call]") { expect(case) { parseJson(call(function, writeJson(input))) } }
            if (typed != null) {
                try {
                    val run = typed(input)
                    TypedStats.ran++
                    t.check("$label [typed]") { expect(case, run) }
                } catch (e: Unmappable) {
                    TypedStats.unmappable++
                }
            }
        }
    }
    t.check("every core function has vectors, and the Kotlin run saw them") {
        val missing = coreFunctions().filter { it !in functionsSeen }
        if (missing.isNotEmpty()) throw AssertionError("no vectors for $missing")
    }
    t.check("every function with a typed binding has vectors") {
        val missing = TYPED.keys.filter { it !in functionsSeen }
        if (missing.isNotEmpty()) throw AssertionError("typed runners for unknown functions $missing")
    }
    println("vectors: $cases cases in ${files.size} files; ${TypedStats.ran} also through typed functions " +
        "(${TypedStats.unmappable} not expressible as typed arguments), every case through `call`")
}

/** Checks one case: `output` compared as JSON, or `error` by code and exception class. */
private fun expect(case: Map<*, *>, run: () -> Any?) {
    val wantError = case["error"] as String?
    val result = try {
        Result.success(run())
    } catch (e: MicropowerException) {
        Result.failure(e)
    }
    if (wantError != null) {
        val e = result.exceptionOrNull() as? MicropowerException
            ?: throw AssertionError("want error $wantError, got ${result.getOrNull()?.let(::writeJson)}")
        val (code, variant) = codeAndVariant(e)
        if (code != wantError) throw AssertionError("want error $wantError, got $code (${reasonOf(e)})")
        if (variant != pascal(wantError)) throw AssertionError("code $code arrived as $variant")
    } else {
        val want = case["output"]
        result.exceptionOrNull()?.let { e ->
            throw AssertionError("want ${writeJson(want)}, got ${codeAndVariant(e as MicropowerException).first}: ${reasonOf(e)}")
        }
        val got = result.getOrNull()
        if (!jsonEquals(got, want)) throw AssertionError("want ${writeJson(want)}\n      got  ${writeJson(got)}")
    }
}

/** `unknown_serial` -> `UnknownSerial`: the core's variant name and the Kotlin exception class. */
fun pascal(code: String): String = code.split('_').joinToString("") { it.replaceFirstChar(Char::uppercaseChar) }

fun codeAndVariant(e: MicropowerException): Pair<String, String> =
    Pair(e.javaClass.getMethod("getCode").invoke(e) as String, e.javaClass.simpleName)

fun reasonOf(e: MicropowerException): String = e.javaClass.getMethod("getReason").invoke(e) as String

// --- JSON input -> typed arguments ---------------------------------------------------------------------

private fun Map<*, *>.only(vararg names: String): Map<*, *> {
    val unknown = keys.filter { it !in names }
    if (unknown.isNotEmpty()) throw Unmappable("unknown arguments $unknown")
    return this
}

private fun obj(v: Any?): Map<*, *> = v as? Map<*, *> ?: throw Unmappable("not an object: $v")
private fun list(v: Any?): List<*> = v as? List<*> ?: throw Unmappable("not a list: $v")
private fun str(v: Any?): String = v as? String ?: throw Unmappable("not a string: $v")
private fun strOpt(v: Any?): String? = v?.let(::str)
private fun bool(v: Any?): Boolean = v as? Boolean ?: throw Unmappable("not a boolean: $v")

/** A decimal argument: a string, or an integer (which the core also reads); never a float. */
private fun dec(v: Any?): String = when {
    v is String -> v
    v is JsonNumber && v.isInteger -> v.text
    else -> throw Unmappable("not a decimal string: $v")
}

private fun decOpt(v: Any?): String? = v?.let(::dec)

private fun u32(v: Any?): UInt {
    val n = v as? JsonNumber ?: throw Unmappable("not a number: $v")
    if (!n.isInteger) throw Unmappable("not an integer: $v")
    return n.text.toLongOrNull()?.takeIf { it in 0..0xFFFF_FFFFL }?.toUInt() ?: throw Unmappable("not a u32: $v")
}

private fun u32Opt(v: Any?): UInt? = v?.let(::u32)

private fun deviceKind(v: Any?): DeviceKind = when (str(v)) {
    "meter" -> DeviceKind.METER
    "solar_home_system" -> DeviceKind.SOLAR_HOME_SYSTEM
    "e_bike" -> DeviceKind.E_BIKE
    else -> throw Unmappable("device kind $v")
}

private fun channel(v: Any?): Channel = when (v) {
    null, "provider" -> Channel.PROVIDER
    "operator" -> Channel.OPERATOR
    else -> throw Unmappable("channel $v")
}

fun tariff(v: Any?): Tariff {
    val m = obj(v)
    return Tariff(
        id = strOpt(m["id"]),
        currency = str(m["currency"]),
        pricePerKwh = dec(m["price_per_kwh"]),
        fees = (m["fees"]?.let(::list) ?: emptyList<Any?>()).map {
            val f = obj(it)
            FeeComponent(name = str(f["name"]), pricePerKwh = dec(f["price_per_kwh"]))
        },
        accessRate = m["access_rate"]?.let {
            val a = obj(it)
            AccessRate(amount = dec(a["amount"]), periodDays = u32(a["period_days"]))
        },
        minimumPurchase = decOpt(m["minimum_purchase"]) ?: "0",
        energyStepKwh = decOpt(m["energy_step_kwh"]),
    )
}

fun installmentTerms(v: Any?): InstallmentTerms {
    val m = obj(v)
    return InstallmentTerms(
        totalCost = dec(m["total_cost"]),
        downPayment = decOpt(m["down_payment"]) ?: "0",
        installments = u32(m["installments"]),
        period = str(m["period"]),
        startDate = str(m["start_date"]),
        minimumPayment = decOpt(m["minimum_payment"]),
    )
}

private fun installmentPlan(v: Any?): InstallmentPlan {
    val m = obj(v)
    return InstallmentPlan(
        id = str(m["id"]),
        currency = str(m["currency"]),
        period = str(m["period"]),
        startDate = str(m["start_date"]),
        installments = list(m["installments"]).map {
            val i = obj(it)
            Installment(
                number = u32(i["number"]),
                dueDate = str(i["due_date"]),
                amount = dec(i["amount"]),
                paid = decOpt(i["paid"]) ?: "0",
            )
        },
        minimumPayment = decOpt(m["minimum_payment"]),
    )
}

private fun eaasPlan(v: Any?): EaasPlan {
    val m = obj(v)
    return EaasPlan(
        id = str(m["id"]),
        currency = str(m["currency"]),
        pricePerDay = dec(m["price_per_day"]),
        minimumPayable = decOpt(m["minimum_payable"]) ?: "0",
    )
}

private fun accessRateState(v: Any?): AccessRateState {
    val m = v?.let(::obj) ?: emptyMap<Any?, Any?>()
    return AccessRateState(
        accruedPeriods = u32Opt(m["accrued_periods"]) ?: 0u,
        debt = decOpt(m["debt"]) ?: "0",
    )
}

private fun snapshot(v: Any?): AccountSnapshot? {
    val m = v?.let(::obj) ?: return null
    val d = obj(m["device"])
    val b = obj(m["billing"])
    val billing = when (str(b["kind"])) {
        "meter" -> Billing.Meter(
            tariff = tariff(b["tariff"]),
            accessRate = accessRateState(b["access_rate"]),
            tokenResolution = decOpt(b["token_resolution"]),
        )
        "installments" -> Billing.Installments(
            plan = installmentPlan(b["plan"]),
            dayResolution = decOpt(b["day_resolution"]),
        )
        "eaas" -> Billing.Eaas(plan = eaasPlan(b["plan"]), dayResolution = decOpt(b["day_resolution"]))
        else -> throw Unmappable("billing ${b["kind"]}")
    }
    return AccountSnapshot(
        device = DeviceAccount(
            serial = str(d["serial"]),
            kind = deviceKind(d["kind"]),
            registeredOn = str(d["registered_on"]),
            owner = d["owner"]?.let {
                val o = obj(it)
                Owner(id = str(o["id"]), name = str(o["name"]), surname = strOpt(o["surname"]) ?: "")
            },
        ),
        billing = billing,
        customerPlans = (m["customer_plans"]?.let(::list) ?: emptyList<Any?>()).map(::installmentPlan),
        creditBalance = decOpt(m["credit_balance"]) ?: "0",
    )
}

/** The vector's registration request (the HTTP body's shape) as the form the app fills. */
fun registrationForm(v: Any?): RegistrationForm {
    val m = obj(v)
    val c = obj(m["customer"])
    val customer = if (c.containsKey("id")) {
        CustomerInput.Existing(id = str(c["id"]))
    } else {
        CustomerInput.New(
            name = strOpt(c["name"]) ?: "",
            surname = strOpt(c["surname"]) ?: "",
            phones = listOfNotNull(strOpt(c["phone"])) + (c["phones"]?.let(::list) ?: emptyList<Any?>()).map(::str),
            villageId = strOpt(c["village_id"]) ?: "",
            geo = c["geo"]?.let {
                val g = obj(it)
                GeoPoint(lat = dec(g["lat"]), lng = dec(g["lng"]))
            },
            nationalId = strOpt(c["national_id"]),
        )
    }
    val d = obj(m["device"])
    val device = DeviceInput(
        serial = str(d["serial"]),
        kind = deviceKind(d["kind"]),
        manufacturerId = str(d["manufacturer_id"]),
        tariffId = strOpt(d["tariff_id"]),
        openpaygo = d["openpaygo"]?.let {
            val o = obj(it)
            OpenPaygoDevice(
                secretKey = str(o["secret_key"]),
                startingCode = u32Opt(o["starting_code"]),
                count = u32Opt(o["count"]) ?: 0u,
                timeDivider = u32Opt(o["time_divider"]) ?: 1u,
                restrictedDigits = o["restricted_digits"]?.let(::bool) ?: false,
                extended = o["extended"]?.let(::bool) ?: false,
            )
        },
    )
    val plan = m["plan"]?.let {
        val p = obj(it)
        val terms = if (p.containsKey("eaas")) {
            val e = obj(p["eaas"])
            PlanTerms.Eaas(EaasTerms(pricePerDay = dec(e["price_per_day"]), minimumPayable = decOpt(e["minimum_payable"]) ?: "0"))
        } else {
            PlanTerms.Installments(installmentTerms(p))
        }
        PlanInput(appliance = str(p["appliance"]), currency = str(p["currency"]), terms = terms)
    }
    return RegistrationForm(
        customer = customer,
        device = device,
        plan = plan,
        registeredOn = str(m["registered_on"]),
        phoneRegion = strOpt(m["phone_region"]),
        downPaymentPaid = m["down_payment_paid"]?.let(::bool) ?: true,
    )
}

// --- typed results -> JSON -----------------------------------------------------------------------------

/** Writes a record as the core writes its type: absent options are left out. */
private fun jsonObject(vararg pairs: Pair<String, Any?>): Map<String, Any?> =
    linkedMapOf(*pairs.filter { it.second != null }.toTypedArray())

private fun snake(e: Enum<*>): String = e.name.lowercase()

private fun planJson(p: InstallmentPlan) = jsonObject(
    "id" to p.id,
    "currency" to p.currency,
    "period" to p.period,
    "start_date" to p.startDate,
    "installments" to p.installments.map {
        jsonObject("number" to it.number, "due_date" to it.dueDate, "amount" to it.amount, "paid" to it.paid)
    },
    "minimum_payment" to p.minimumPayment,
)

private fun allocationJson(a: Allocation) = jsonObject(
    "serial" to a.serial,
    "currency" to a.currency,
    "amount" to a.amount,
    "lines" to a.lines.map {
        jsonObject(
            "kind" to snake(it.kind),
            "amount" to it.amount,
            "plan_id" to it.planId,
            "installment" to it.installment,
            "quantity" to it.quantity,
        )
    },
    "credit_used" to a.creditUsed,
    "credit_added" to a.creditAdded,
    "credit_balance" to a.creditBalance,
    "access_rate" to a.accessRate?.let { jsonObject("accrued_periods" to it.accruedPeriods, "debt" to it.debt) },
    "plans" to a.plans.takeIf { it.isNotEmpty() }?.map(::planJson),
    "token" to a.token?.let { jsonObject("serial" to it.serial, "unit" to snake(it.unit), "quantity" to it.quantity) },
    "no_token_reason" to a.noTokenReason?.let(::snake),
)

private fun stateJson(s: DecoderState) = jsonObject("last_count" to s.lastCount, "used_counts" to s.usedCounts)

// --- the typed runners, by core function name ------------------------------------------------------------

val TYPED: Map<String, (Map<*, *>) -> () -> Any?> = mapOf(
    "normalize_serial" to { a ->
        val raw = str(a.only("raw")["raw"])
        ({ normalizeSerial(raw) })
    },
    "normalize_phone" to { a ->
        a.only("raw", "region")
        val raw = str(a["raw"])
        val region = strOpt(a["region"])
        ({ normalizePhone(raw, region) })
    },
    "round_money" to { a ->
        a.only("amount", "currency")
        val amount = dec(a["amount"])
        val currency = str(a["currency"])
        ({ roundMoney(amount, currency) })
    },
    "unit_price" to { a ->
        val t = tariff(a.only("tariff")["tariff"])
        ({ unitPrice(t) })
    },
    "energy_for_money" to { a ->
        a.only("tariff", "net_amount")
        val t = tariff(a["tariff"])
        val net = dec(a["net_amount"])
        ({ energyForMoney(t, net).let { jsonObject("kwh" to it.kwh, "cost" to it.cost, "credit" to it.credit) } })
    },
    "installment_schedule" to { a ->
        a.only("terms", "currency")
        val terms = installmentTerms(a["terms"])
        val currency = str(a["currency"])
        ({
            installmentSchedule(terms, currency).map {
                jsonObject("number" to it.number, "due_date" to it.dueDate, "amount" to it.amount)
            }
        })
    },
    "eaas_price" to { a ->
        a.only("plan", "days")
        val plan = eaasPlan(a["plan"])
        val days = dec(a["days"])
        ({ eaasPrice(plan, days) })
    },
    "allocate_payment" to { a ->
        a.only("snapshot", "payment")
        val s = snapshot(a["snapshot"])
        val p = obj(a["payment"])
        val payment = Payment(
            serial = str(p["serial"]),
            amount = dec(p["amount"]),
            currency = str(p["currency"]),
            receivedOn = str(p["received_on"]),
        )
        ({ allocationJson(allocatePayment(s, payment)) })
    },
    "validate_payment" to { a ->
        a.only("snapshot", "request")
        val s = snapshot(a["snapshot"])
        val r = obj(a["request"])
        val request = ValidationRequest(
            serial = str(r["serial"]),
            amount = dec(r["amount"]),
            currency = str(r["currency"]),
            receivedOn = str(r["received_on"]),
            channel = channel(r["channel"]),
        )
        ({
            validatePayment(s, request).let {
                jsonObject(
                    "accepted" to it.accepted,
                    "customer_name" to it.customerName,
                    "minimum_amount" to it.minimumAmount,
                    "preview" to allocationJson(it.preview),
                )
            }
        })
    },
    "registration_field_errors" to { a ->
        val form = registrationForm(a.only("request")["request"])
        ({
            validateRegistration(form).map {
                jsonObject("field" to it.field, "code" to it.code, "message" to it.message)
            }
        })
    },
    "openpaygo_generate" to { a ->
        a.only("secret_key", "starting_code", "count", "kind", "value", "time_divider", "restricted_digits", "extended")
        val key = str(a["secret_key"])
        val start = u32Opt(a["starting_code"])
        val count = u32(a["count"])
        val kind = str(a["kind"])
        val value = decOpt(a["value"])
        val divider = u32Opt(a["time_divider"]) ?: 1u
        val restricted = a["restricted_digits"]?.let(::bool) ?: false
        val extended = a["extended"]?.let(::bool) ?: false
        ({
            openpaygoGenerate(key, start, count, kind, value, divider, restricted, extended).let {
                jsonObject("code" to it.code, "count" to it.count)
            }
        })
    },
    "openpaygo_decode" to { a ->
        a.only("secret_key", "starting_code", "token", "state", "time_divider", "restricted_digits", "extended")
        val key = str(a["secret_key"])
        val start = u32Opt(a["starting_code"])
        val token = str(a["token"])
        val state = a["state"]?.let {
            val s = obj(it)
            DecoderState(
                lastCount = u32Opt(s["last_count"]) ?: 0u,
                usedCounts = (s["used_counts"]?.let(::list) ?: emptyList<Any?>()).map(::u32),
            )
        } ?: DecoderState()
        val divider = u32Opt(a["time_divider"]) ?: 1u
        val restricted = a["restricted_digits"]?.let(::bool) ?: false
        val extended = a["extended"]?.let(::bool) ?: false
        ({
            openpaygoDecode(key, start, token, state, divider, restricted, extended).let {
                jsonObject("kind" to it.kind, "value" to it.value, "count" to it.count, "state" to stateJson(it.state))
            }
        })
    },
)
