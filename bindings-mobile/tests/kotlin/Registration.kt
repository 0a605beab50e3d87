// The field app's offline registration, end to end: an agent fills the form with mistakes, the core lists
// them per field, the agent fixes them, the bindings write the body of POST /v1/registrations, and a real
// micropower-server (started by scripts/test.d/30-mobile.sh on a temporary database) accepts it with 201.
package org.micropower.tests

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.time.Duration
import org.micropower.*

private class Api(val base: String, val key: String) {
    private val http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()

    fun post(path: String, body: String): Pair<Int, Any?> {
        val request = HttpRequest.newBuilder(URI.create(base + path))
            .timeout(Duration.ofSeconds(20))
            .header("Authorization", "Bearer $key")
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        return Pair(response.statusCode(), response.body().takeIf { it.isNotBlank() }?.let(::parseJson))
    }

    /** POSTs and expects 201; returns the new record's id. */
    fun create(path: String, body: Map<String, Any?>): String {
        val (status, reply) = post(path, writeJson(body))
        assertEq(201, status, "POST $path -> ${reply?.let(::writeJson)}")
        return (reply as Map<*, *>)["id"] as String
    }
}

fun registrationScenario(t: Tally, baseUrl: String, adminKey: String) {
    val api = Api(baseUrl, adminKey)
    var villageId = ""
    var manufacturerId = ""
    t.check("registration: set up cluster, area, village and manufacturer through the API") {
        val clusterId = api.create("/v1/clusters", mapOf("name" to "Kilimanjaro"))
        val areaId = api.create("/v1/areas", mapOf("name" to "Moshi rural", "cluster_id" to clusterId))
        villageId = api.create("/v1/villages", mapOf("name" to "Kibosho", "area_id" to areaId))
        manufacturerId = api.create(
            "/v1/manufacturers",
            mapOf("name" to "SunBox", "device_kinds" to listOf("solar_home_system"), "token_scheme" to "openpaygo"),
        )
    }

    val key = "a29ab82edc5fbbc41ec9530f6dac86b1"
    val terms = InstallmentTerms(
        totalCost = "2,100", // a comma, as typed on some keyboards: not a decimal the core reads
        downPayment = "0",
        installments = 3u,
        period = "weekly",
        startDate = "2026-01-01",
    )
    // Five mistakes on top of the unreadable amount: blank name, a phone that is no number, a serial with an
    // underscore, a latitude beyond the pole, and a tariff on a solar home system.
    var form = RegistrationForm(
        customer = CustomerInput.New(
            name = " ",
            surname = "Juma",
            phones = listOf("+255 1"),
            villageId = villageId,
            geo = GeoPoint(lat = "95", lng = "37.3"),
            nationalId = null,
        ),
        device = DeviceInput(
            serial = "shs_0001",
            kind = DeviceKind.SOLAR_HOME_SYSTEM,
            manufacturerId = manufacturerId,
            tariffId = "t-1",
            openpaygo = OpenPaygoDevice(secretKey = key, startingCode = 123456789u),
        ),
        plan = PlanInput(appliance = "SHS 80W", currency = "TZS", terms = PlanTerms.Installments(terms)),
        registeredOn = "2026-01-01",
    )

    t.check("registration: an amount that is not a decimal is reported on its own field") {
        val errors = validateRegistration(form)
        assertEq(listOf("plan.total_cost" to "invalid_input"), errors.map { it.field to it.code }, "errors")
        val e = assertThrows<MicropowerException.InvalidInput> { registrationBody(form) }
        assertEq("plan.total_cost", (parseJson(e.details) as Map<*, *>)["field"], "body refusal field")
    }

    form = form.copy(plan = form.plan!!.copy(terms = PlanTerms.Installments(terms.copy(totalCost = "2100"))))
    t.check("registration: every offline rule reports its field") {
        val errors = validateRegistration(form)
        val byField = errors.associate { it.field to it.code }
        assertEq(
            mapOf(
                "customer.name" to "invalid_input",
                "customer.phone" to "invalid_phone",
                "customer.geo" to "invalid_geo_point",
                "device.serial" to "invalid_serial",
                "device" to "kind_mismatch",
            ),
            byField,
            "field errors",
        )
        assertTrue(errors.all { it.message.isNotBlank() }, "every error has a message")
        assertTrue(errors.first { it.field == "device" }.message.contains("a tariff is only for meters"), "kind message")
    }

    form = form.copy(
        customer = CustomerInput.New(
            name = "Amina",
            surname = "Juma",
            phones = listOf("0712 345 678"),
            villageId = villageId,
            geo = GeoPoint(lat = "-3.2", lng = "37.3"),
            nationalId = null,
        ),
        device = form.device.copy(serial = "shs-0001", tariffId = null),
        phoneRegion = "TZ",
    )
    var body = ""
    t.check("registration: the fixed form has no errors and gives the HTTP body") {
        assertEq(emptyList<FieldError>(), validateRegistration(form), "field errors")
        body = registrationBody(form)
        val b = parseJson(body) as Map<*, *>
        val customer = b["customer"] as Map<*, *>
        assertEq("0712 345 678", customer["phone"], "phone as typed (the server normalises it)")
        assertEq("shs-0001", (b["device"] as Map<*, *>)["serial"], "serial as typed")
        val plan = b["plan"] as Map<*, *>
        assertEq("2100", plan["total_cost"], "total_cost is a decimal string")
        assertEq("weekly", plan["period"], "period")
        assertEq("2026-01-01", b["registered_on"], "registered_on")
    }

    t.check("registration: offline previews for the agent (schedule, token) agree with the core") {
        val schedule = installmentSchedule(terms.copy(totalCost = "2100"), "TZS")
        assertEq(listOf("2026-01-08" to "700", "2026-01-15" to "700", "2026-01-22" to "700"),
            schedule.map { it.dueDate to it.amount }, "schedule")
        val token = openpaygoGenerate(key, 123456789u, 0u, "add_time", "7", 1u, false, false)
        assertEq(2u, token.count, "count")
        val decoded = openpaygoDecode(key, 123456789u, token.code, DecoderState(), 1u, false, false)
        assertEq("add_time" to "7", decoded.kind to decoded.value, "decoded")
        assertEq(2u, decoded.state.lastCount, "last count")
    }

    t.check("registration: the server accepts the body (201) and stores the canonical serial") {
        val (status, reply) = api.post("/v1/registrations", body)
        assertEq(201, status, "POST /v1/registrations -> ${reply?.let(::writeJson)}")
        reply as Map<*, *>
        assertEq(normalizeSerial("shs-0001"), (reply["device"] as Map<*, *>)["serial"], "serial")
        assertEq(listOf("+255712345678"), (reply["customer"] as Map<*, *>)["phones"], "phones in E.164")
        val plan = reply["plan"] as Map<*, *>
        assertEq("2100", plan["total_cost"], "plan total")
        assertEq(3, (plan["installments"] as List<*>).size, "installments")
    }

    t.check("registration: posting it again is refused with the core's code duplicate_serial") {
        val (status, reply) = api.post("/v1/registrations", body)
        assertEq(409, status, "status")
        val code = (reply as Map<*, *>)["code"] as String
        assertEq("duplicate_serial", code, "code")
        assertTrue(code in errorCodes(), "the server's code is one of the bindings' error codes")
    }
}
