# bash completion for mq                                     -*- shell-script -*-
#
# Commands, options, backends, formats, and the queue names of the config
# file (asked of `mq config --names` at completion time, so --config and
# $MQ_CONFIG count). Works with or without the bash-completion package.

_mq_global_options='-h --help --version -q --queue --config --backend -t --topic --host --port --username
  --password-file --group --qos --client-id --connect-timeout --cafile --cert --key --tls-key --insecure
  --set -v --verbose'
# Global options that take a value: the word after them is no command.
_mq_global_valued='-q --queue --config --backend -t --topic --host --port --username --password-file --group
  --qos --client-id --connect-timeout --cafile --cert --key --tls-key --set'
_mq_commands='send receive peek count listen clear info config complete abandon renew dead-letter'

_mq_command_options() {
    case $1 in
        send) echo '-f --file -l --lines -d --delimiter -0 -e --envelopes --type --correlation-id --message-id
            --key -H --header --qos --retain --partition --print --progress --no-progress' ;;
        receive) echo '-n --count -w --wait --lock --format --pretty -d --delimiter -0 --progress --no-progress' ;;
        peek) echo '-n --count --format --pretty -d --delimiter -0' ;;
        listen) echo '-n --count --format --pretty -d --delimiter -0 --exec --max-attempts --dead-letter
            --concurrency --lock' ;;
        info) echo '--json' ;;
        config) echo '--json --names' ;;
        renew) echo '--lock' ;;
    esac
}

# Options of a command that take a value.
_mq_command_valued() {
    case $1 in
        send) echo '-f --file -d --delimiter --type --correlation-id --message-id --key -H --header --qos
            --partition' ;;
        receive) echo '-n --count -w --wait --lock --format -d --delimiter' ;;
        peek) echo '-n --count --format -d --delimiter' ;;
        listen) echo '-n --count --format -d --delimiter --max-attempts --dead-letter --concurrency --lock' ;;
        renew) echo '--lock' ;;
    esac
}

_mq_word_in() {
    local word=$1 list=$2 item
    for item in $list; do [[ $item == "$word" ]] && return 0; done
    return 1
}

# COMPREPLY: the lines of $2 that start with $1, taken as they are (no
# expansion: templates hold braces and quotes), minding the colons of URIs,
# which bash splits words on.
_mq_reply() {
    local cur=$1 item prefix=''
    COMPREPLY=()
    [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]] && prefix=${cur%"${cur##*:}"}
    while IFS= read -r item; do
        [[ -n $item && $item == "$cur"* ]] && COMPREPLY+=("${item#"$prefix"}")
    done <<< "$2"
}

_mq_files() {
    if declare -F _filedir > /dev/null; then
        _filedir
    else
        local IFS=$'\n'
        COMPREPLY=($(compgen -f -- "$1"))
    fi
}

_mq() {
    local cur prev words cword
    if declare -F _init_completion > /dev/null; then
        _init_completion -n : || return
    else
        words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi

    # The command (and config's "path"), the config file named, and whether
    # the words after --exec belong to a command of their own.
    local command='' subcommand='' config=() exec_at=0 i word
    for ((i = 1; i < cword; i++)); do
        word=${words[i]}
        if [[ $word == --config ]]; then
            config=(--config "${words[i + 1]/#\~/$HOME}")
        elif [[ $word == --config=* ]]; then
            config=(--config "${word#--config=}")
            config[1]=${config[1]/#\~/$HOME}
        fi
        if [[ -n $command && $command == listen && $word == --exec ]]; then
            exec_at=$i
            break
        fi
        if _mq_word_in "$word" "$_mq_global_valued $(_mq_command_valued "$command")"; then
            ((i++))
        elif [[ $word != -* ]]; then
            if [[ -z $command ]] && _mq_word_in "$word" "$_mq_commands"; then
                command=$word
            elif [[ $command == config && -z $subcommand && $word == path ]]; then
                subcommand=$word
            fi
        fi
    done

    if ((exec_at)); then
        if ((cword == exec_at + 1)); then
            local IFS=$'\n'
            COMPREPLY=($(compgen -c -- "$cur" | sort -u))
        else
            _mq_files "$cur"
        fi
        return
    fi

    local key_is_tls=1
    [[ $command == send ]] && key_is_tls=0
    case $prev in
        -q | --queue | --dead-letter)
            local names
            names=$(command mq "${config[@]}" config --names 2> /dev/null)
            _mq_reply "$cur" "$names"$'\n'"memory://"$'\n'"mqtt://"$'\n'"mqtts://"$'\n'"kafka://"
            [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]] && compopt -o nospace 2> /dev/null
            return ;;
        --backend)
            _mq_reply "$cur" $'memory\nmqtt\nkafka'
            return ;;
        --format)
            _mq_reply "$cur" $'json\npip\npayload\n\'{topic} {message}\'\n\'{topic} {partition}:{offset} {message}\''
            return ;;
        --qos)
            _mq_reply "$cur" $'0\n1\n2'
            return ;;
        --config | --password-file | --cafile | --cert | --tls-key | -f | --file)
            _mq_files "$cur"
            return ;;
        --key)
            ((key_is_tls)) && _mq_files "$cur"
            return ;;
        --set)
            _mq_reply "$cur" $'backend=\ntopic=\ngroup_id=\nfrom_beginning=\nconnection.host=\nconnection.port=
connection.protocol=\ncredential.username=\ncredential.password_file=\noptions.qos=\noptions.retain=
options.serialize_envelope=\noptions.client_id=\noptions.clean_session=\noptions.protocol_version=
options.connect_timeout=\noptions.reconnect_timeout=\noptions.keepalive_timeout=\noptions.cafile=
options.cert=\noptions.key=\noptions.insecure=\noptions.max_inflight=\noptions.acks=\noptions.log_level=
options.request_timeout=\noptions.session_timeout=\noptions.store_dir=\noptions.dead_letter_queue=\nkafka.'
            compopt -o nospace 2> /dev/null
            return ;;
    esac
    if _mq_word_in "$prev" "$_mq_global_valued $(_mq_command_valued "$command")"; then
        return  # a value nobody can guess: a count, a duration, a name
    fi

    if [[ $cur == -* ]]; then
        local options=$_mq_global_options
        [[ -n $command && -z $subcommand ]] && options+=" $(_mq_command_options "$command")"
        _mq_reply "$cur" "$(printf '%s\n' $options)"
        return
    fi
    if [[ -z $command ]]; then
        _mq_reply "$cur" "$(printf '%s\n' $_mq_commands)"
    elif [[ $command == config && -z $subcommand ]]; then
        _mq_reply "$cur" path
    fi
}

complete -F _mq mq
