import ChatCore

// MARK: Time

/// "HH:MM" in local time (or "h:MMa"/"h:MMp", five columns, for a 12-hour clock).
package func clock(_ ts: Int64, offset: Int, twelveHour: Bool = false) -> String {
    let seconds = ts / 1000 + Int64(offset)
    let minuteOfDay = ((seconds % 86_400) + 86_400) % 86_400 / 60
    let h = minuteOfDay / 60
    let m = minuteOfDay % 60
    let minutes = (m < 10 ? "0" : "") + "\(m)"
    guard twelveHour else { return (h < 10 ? "0" : "") + "\(h):" + minutes }
    let hour12 = h % 12 == 0 ? 12 : h % 12
    let text = "\(hour12):\(minutes)" + (h < 12 ? "a" : "p")
    return String(repeating: " ", count: max(0, 6 - text.count)) + text
}

func dayNumber(_ ts: Int64, offset: Int) -> Int64 {
    let seconds = ts / 1000 + Int64(offset)
    return seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
}

/// "Sun 29 Nov 2026" for a day number (days since 1970-01-01).
package func dateLabel(_ day: Int64) -> String {
    // Civil-from-days (proleptic Gregorian); hand-written so rendering stays free of
    // Foundation calendars and time-zone databases, and golden screens are reproducible.
    let z = day + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
    let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    let weekday = weekdays[Int(((day % 7) + 7) % 7)]
    return "\(weekday) \(d) \(months[Int(m - 1)]) \(y)"
}
